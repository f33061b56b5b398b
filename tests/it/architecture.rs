//! The dependency direction of `docs/architecture.md`, checked on the
//! source: no import cycle between files, and every import between
//! top-level modules points down the layer table below. Imports are read
//! from `use` trees and inline `crate::`/`super::` paths outside comments
//! and `#[cfg(test)]` code; a file's imports of its own ancestors (a
//! `mod.rs` that declares it) do not count, as declaring is not using.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, bottom first: a module may import only
/// modules of lower layers. Kept equal to the table in
/// `docs/architecture.md` (checked below).
const LAYERS: &[&[&str]] = &[
    &["model"],
    &["version", "telemetry", "tls"],
    &["policy", "inventory", "vulndb", "registry"],
    &["scan"],
    &["ports"],
    &["admission", "rescan"],
    &["k8s", "server"],
    &["config"],
    &["app"],
    &["cli"],
];

type ModPath = Vec<String>;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src`, keyed by its module path.
fn modules(root: &Path) -> BTreeMap<ModPath, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src");
                let mut parts: Vec<String> = rel
                    .with_extension("")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).expect("read source");
                out.insert(parts, text);
            }
        }
    }
    out
}

/// The text without comments, string literals and `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if text[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            i = text[i..].find("*/").map_or(bytes.len(), |end| i + end + 2);
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if text[i..].starts_with("#[cfg(test)]") {
            i = skip_item(text, i + "#[cfg(test)]".len());
        } else {
            let c = text[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The end of the item starting at `from`: its `;` or its matching `}`.
fn skip_item(text: &str, from: usize) -> usize {
    let mut depth = 0usize;
    for (offset, c) in text[from..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return from + offset + 1;
                }
            }
            ';' if depth == 0 => return from + offset + 1,
            _ => {}
        }
    }
    text.len()
}

/// Test-only files: `#[cfg(test)] mod name;` in their parent.
fn test_only_files(modules: &BTreeMap<ModPath, String>) -> BTreeSet<ModPath> {
    let mut out = BTreeSet::new();
    for (path, text) in modules {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let item = rest.trim_start();
            if let Some(decl) = item.strip_prefix("mod ") {
                let name: String = decl
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if decl[name.len()..].trim_start().starts_with(';') {
                    let mut child = path.clone();
                    child.push(name);
                    out.insert(child);
                }
            }
        }
    }
    out
}

/// Expands a `use` tree (`crate::a::{b, c::{d, e}}`) into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        return vec![path.trim().to_string()];
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let prefix = &tree[..open];
    let inner = &tree[open + 1..close];
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand_use(&format!("{prefix}{}", p.trim())))
        .collect()
}

/// The module a path names, from the file `current`: the longest prefix
/// that is a module of the crate.
fn resolve(current: &ModPath, path: &str, modules: &BTreeMap<ModPath, String>) -> Option<ModPath> {
    let compact: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let mut segments: Vec<&str> = compact.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: ModPath = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"super") => {
            let mut base = current.clone();
            while segments.first() == Some(&"super") {
                base.pop();
                segments.remove(0);
            }
            base
        }
        Some(&"self") => {
            segments.remove(0);
            current.clone()
        }
        _ => return None,
    };
    let known = base.len();
    for segment in &segments {
        base.push(segment.to_string());
    }
    (known..=base.len())
        .rev()
        .map(|len| base[..len].to_vec())
        .find(|candidate| modules.contains_key(candidate))
}

/// The crate modules each file imports.
fn imports() -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let modules = modules(&source_root());
    let tests_only = test_only_files(&modules);
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (current, text) in &modules {
        if tests_only.contains(current) {
            continue;
        }
        let code = code_of(text);
        let mut paths = Vec::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("use ") {
            let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
            rest = &rest[at + 4..];
            let tree = rest.split(';').next().unwrap_or("");
            let first = tree.trim_start();
            if before_ok
                && (first.starts_with("crate")
                    || first.starts_with("super")
                    || first.starts_with("self"))
            {
                paths.extend(expand_use(tree));
            }
        }
        for anchor in ["crate::", "super::"] {
            let mut rest = code.as_str();
            while let Some(at) = rest.find(anchor) {
                let before_ok = at == 0
                    || !(rest.as_bytes()[at - 1].is_ascii_alphanumeric()
                        || rest.as_bytes()[at - 1] == b'_'
                        || rest.as_bytes()[at - 1] == b':');
                let path: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                if before_ok {
                    paths.push(path.clone());
                }
                rest = &rest[at + anchor.len()..];
            }
        }
        for path in paths {
            let Some(target) = resolve(current, &path, &modules) else {
                continue;
            };
            let is_ancestor = target.len() < current.len() && current.starts_with(&target);
            if target != *current && !target.is_empty() && !is_ancestor {
                edges.entry(current.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    let nodes: BTreeSet<&ModPath> = edges
        .iter()
        .flat_map(|(from, to)| std::iter::once(from).chain(to))
        .collect();
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn show(path: &ModPath) -> String {
    path.join("/")
}

#[test]
fn no_file_imports_itself_through_others() {
    let found = cycles(&imports());
    let shown: Vec<Vec<String>> = found.iter().map(|c| c.iter().map(show).collect()).collect();
    assert!(shown.is_empty(), "import cycles between files: {shown:?}");
}

#[test]
fn top_level_modules_import_only_lower_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in imports() {
        for to in targets {
            if from[0] == to[0] {
                continue;
            }
            let (Some(a), Some(b)) = (layer_of(&from[0]), layer_of(&to[0])) else {
                wrong.push(format!(
                    "{} -> {}: a top-level module missing from LAYERS and docs/architecture.md",
                    show(&from),
                    show(&to)
                ));
                continue;
            };
            if a <= b {
                wrong.push(format!("{} -> {}", show(&from), show(&to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_and_an_upward_import() {
    // The reader itself: a planted cycle and a planted upward import are found.
    let mut modules = BTreeMap::new();
    for name in ["model", "scan", "cli"] {
        modules.insert(vec![name.to_string()], String::new());
    }
    let model = vec!["model".to_string()];
    let code = code_of(
        "// use crate::cli;\nuse crate::{scan::X, cli};\nfn f() { crate::scan::g(); }\n#[cfg(test)]\nmod tests { use crate::cli; }\n",
    );
    let found: Vec<String> = expand_use(
        code.split("use ")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap(),
    )
    .into_iter()
    .filter_map(|p| resolve(&model, &p, &modules))
    .map(|m| show(&m))
    .collect();
    assert_eq!(found, ["scan", "cli"]);
    assert!(!code.contains("mod tests"));
    let edges: BTreeMap<ModPath, BTreeSet<ModPath>> = [
        (
            vec!["a".to_string()],
            BTreeSet::from([vec!["b".to_string()]]),
        ),
        (
            vec!["b".to_string()],
            BTreeSet::from([vec!["a".to_string()]]),
        ),
    ]
    .into();
    assert_eq!(cycles(&edges).len(), 1);
    assert!(layer_of("model") < layer_of("cli"));
}

#[test]
fn the_documented_layers_are_the_checked_ones() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .expect("docs/architecture.md exists");
    for (level, layer) in LAYERS.iter().enumerate() {
        let line = format!(
            "| {level} | {} |",
            layer
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(
            doc.contains(&line),
            "docs/architecture.md lacks the layer row {line:?}"
        );
    }
}
