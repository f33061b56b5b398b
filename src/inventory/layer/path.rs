//! Path normalization and whiteout recognition for tar entry names.

/// Prefix of an OCI/AUFS whiteout file: `dir/.wh.name` deletes `dir/name`.
const WHITEOUT_PREFIX: &str = ".wh.";
/// Marker file: `dir/.wh..wh..opq` hides everything lower layers had in `dir`.
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Normalises a tar entry name to a path inside the image root: no leading
/// `/` or `./`, no empty or `.` components, `..` resolved lexically and
/// clamped at the root (so `../../etc/passwd` is `etc/passwd`, never outside).
/// Returns `None` for the root itself. Non-UTF-8 bytes are replaced (U+FFFD).
pub fn normalize(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// What a normalized entry path means for the layered filesystem.
#[derive(Debug, PartialEq, Eq)]
pub enum EntryRole<'a> {
    /// An ordinary entry.
    Plain,
    /// A whiteout deleting this path (and everything below it) from lower layers.
    Whiteout(String),
    /// An opaque-directory marker for this directory (`""` is the root).
    Opaque(&'a str),
}

/// Classifies a normalized path as a plain entry, a whiteout or an opaque marker.
pub fn role(path: &str) -> EntryRole<'_> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path),
    };
    if name == OPAQUE_MARKER {
        return EntryRole::Opaque(dir);
    }
    match name.strip_prefix(WHITEOUT_PREFIX) {
        Some(target) if !target.is_empty() && target != "." && target != ".." => {
            EntryRole::Whiteout(join(dir, target))
        }
        // `.wh.`, `.wh..` and friends name nothing; treat them as inert entries.
        Some(_) => EntryRole::Plain,
        None => EntryRole::Plain,
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// True when `path` is `ancestor` or lies below it (`""` is the root).
pub fn is_at_or_below(path: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || path == ancestor
        || (path.len() > ancestor.len()
            && path.starts_with(ancestor)
            && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

/// The proper ancestors of a normalized path, nearest last: `a/b/c` → `a`, `a/b`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_prefixes_dots_and_dotdot_within_root() {
        assert_eq!(
            normalize(b"./etc/os-release").as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(
            normalize(b"/etc//./os-release").as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(
            normalize(b"../../etc/passwd").as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(normalize(b"a/b/../../../c").as_deref(), Some("c"));
        assert_eq!(normalize(b"usr/lib/").as_deref(), Some("usr/lib"));
        assert_eq!(normalize(b"./"), None);
        assert_eq!(normalize(b"/.."), None);
    }

    #[test]
    fn recognizes_whiteouts_and_opaque_markers() {
        assert_eq!(
            role("etc/.wh.os-release"),
            EntryRole::Whiteout("etc/os-release".into())
        );
        assert_eq!(role(".wh.etc"), EntryRole::Whiteout("etc".into()));
        assert_eq!(role("var/lib/.wh..wh..opq"), EntryRole::Opaque("var/lib"));
        assert_eq!(role(".wh..wh..opq"), EntryRole::Opaque(""));
        assert_eq!(role("etc/.wh."), EntryRole::Plain);
        assert_eq!(role("etc/.wh.."), EntryRole::Plain);
        assert_eq!(role("etc/passwd"), EntryRole::Plain);
    }

    #[test]
    fn ancestry() {
        assert!(is_at_or_below("a/b/c", "a/b"));
        assert!(is_at_or_below("a/b", "a/b"));
        assert!(!is_at_or_below("a/bc", "a/b"));
        assert!(is_at_or_below("x", ""));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
