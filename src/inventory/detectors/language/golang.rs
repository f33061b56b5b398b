//! Go binaries: the build information the Go linker embeds (Go 1.18+ inline
//! format: the `\xff Go buildinf:` header, then the toolchain version and the
//! module information as length-prefixed strings). It names the main module,
//! every dependency (replacements applied) and the Go toolchain, reported as
//! the `stdlib` package since standard-library advisories are keyed on it.

use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::inventory::purl::purl;
use crate::model::{Location, Package, PackageKind};

pub struct GoBinary;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const ELF: &[u8] = b"\x7fELF";
/// Largest binary read (`maxFileBytes` of the walker applies first).
pub const MAX_BINARY: u64 = 512 << 20;

/// A uvarint at the start of `data`: value and bytes used.
fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn length_prefixed(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = uvarint(data)?;
    let len = usize::try_from(len).ok()?;
    let rest = data.get(used..)?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// The toolchain version and module info of a binary's build info, when it
/// is in the inline (Go 1.18+) format.
fn read_buildinfo(binary: &[u8]) -> Option<(String, String)> {
    let start = memchr::memmem::find_iter(binary, MAGIC).find(|i| i % 16 == 0)?;
    let header = binary.get(start..start + 32)?;
    let flags = header[15];
    if flags & 0x2 == 0 {
        // Pre-1.18 pointer format: the strings live elsewhere in memory.
        return None;
    }
    let (version, rest) = length_prefixed(binary.get(start + 32..)?)?;
    let (modinfo, _) = length_prefixed(rest)?;
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    Some((
        String::from_utf8_lossy(version).into_owned(),
        String::from_utf8_lossy(modinfo).into_owned(),
    ))
}

/// `go1.21.4` → `1.21.4`, `go1.21rc2` → `1.21.0-rc.2`, `go1.21` → `1.21.0`,
/// as the Go vulnerability database writes toolchain versions.
pub fn toolchain_semver(go: &str) -> Option<String> {
    let v = go.split_whitespace().next()?.strip_prefix("go")?;
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let mut parts: Vec<&str> = release.split('.').collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    let mut out = parts.join(".");
    if let Some(pre) = pre {
        let (word, number) =
            pre.split_at(pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len()));
        out.push('-');
        out.push_str(word);
        if !number.is_empty() {
            out.push('.');
            out.push_str(number);
        }
    }
    Some(out)
}

fn go_package(module: &str, version: &str, path: &str) -> Package {
    let (namespace, name) = match module.rsplit_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, module),
    };
    Package {
        name: module.to_string(),
        version: version.to_string(),
        kind: PackageKind::Golang,
        purl: purl("golang", namespace, name, version, &[]),
        source_name: None,
        source_version: None,
        arch: None,
        location: Location {
            layer: None,
            path: path.to_string(),
        },
    }
}

/// Packages from a module-info text (`path`, `mod`, `dep`, `=>` lines).
pub fn parse_modinfo(toolchain: &str, modinfo: &str, path: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = Vec::new();
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", module, version, ..] if *version != "(devel)" => {
                packages.push(go_package(module, version, path));
            }
            ["dep", module, version, ..] => packages.push(go_package(module, version, path)),
            ["=>", module, version, ..] => {
                // Replaces the dependency on the line before.
                if let Some(last) = packages.last_mut() {
                    *last = go_package(module, version, path);
                }
            }
            _ => {}
        }
    }
    if let Some(version) = toolchain_semver(toolchain) {
        packages.push(go_package("stdlib", &version, path));
    }
    packages
}

impl Detector for GoBinary {
    fn name(&self) -> &'static str {
        "go-binary"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        file.is_executable() && file.size >= 1024
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxGoBinaryBytes", limits.max_go_binary_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        if !data.starts_with(ELF) {
            return Ok(Detected::Nothing);
        }
        Ok(match read_buildinfo(data) {
            Some((toolchain, modinfo)) => {
                Detected::Packages(parse_modinfo(&toolchain, &modinfo, file.path))
            }
            None => Detected::Nothing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_versions_become_semver() {
        assert_eq!(toolchain_semver("go1.19.8").as_deref(), Some("1.19.8"));
        assert_eq!(toolchain_semver("go1.21").as_deref(), Some("1.21.0"));
        assert_eq!(
            toolchain_semver("go1.21rc2").as_deref(),
            Some("1.21.0-rc.2")
        );
        assert_eq!(
            toolchain_semver("go1.20.1 X:boringcrypto").as_deref(),
            Some("1.20.1")
        );
        assert_eq!(toolchain_semver("devel go1.22-abc"), None);
        assert_eq!(toolchain_semver("go"), None);
    }

    #[test]
    fn modinfo_with_replacements() {
        let info = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.1.0\th1:x\ndep\tgithub.com/a/b\tv1.0.0\th1:y\n=>\tgithub.com/fork/b\tv1.0.1\th1:z\nbuild\t-compiler=gc\n";
        let p = parse_modinfo("go1.19.8", info, "app");
        let names: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("golang.org/x/net", "v0.1.0"),
                ("github.com/fork/b", "v1.0.1"),
                ("stdlib", "1.19.8")
            ]
        );
        assert_eq!(p[0].purl, "pkg:golang/golang.org/x/net@v0.1.0");
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        let mut data = ELF.to_vec();
        data.resize(32, 0);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&[8, 2]);
        data.resize(64, 0xff);
        assert!(read_buildinfo(&data).is_none());
        assert!(uvarint(&[0xff; 12]).is_none());
    }
}
