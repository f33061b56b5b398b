//! Go binaries: the build information the Go linker embeds, after the
//! `\xff Go buildinf:` header: in Go 1.18+ (inline format) the toolchain
//! version and the module information follow as length-prefixed strings; in
//! Go 1.13–1.17 (pointer format) the header holds two pointers to Go string
//! headers (data pointer, length) in the binary's data, read through the ELF
//! load segments as Go's own `debug/buildinfo` does. It names the main module,
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
    let (version, modinfo) = if flags & 0x2 == 0 {
        pointer_format(binary, header)?
    } else {
        let (version, rest) = length_prefixed(binary.get(start + 32..)?)?;
        let (modinfo, _) = length_prefixed(rest)?;
        (version, modinfo)
    };
    if version.is_empty() {
        return None;
    }
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

/// Longest string followed through a pointer-format header.
const MAX_POINTED_STRING: u64 = 16 << 20;

/// Pre-1.18 build info: the header's pointer size (byte 14) and byte order
/// (flags bit 0) give two pointers, to the version's and the module info's
/// Go string headers, each `{data pointer, length}`; addresses are mapped to
/// file bytes through the ELF load segments.
fn pointer_format<'a>(binary: &'a [u8], header: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    use object::{Object as _, ObjectSegment as _};
    let size = usize::from(header[14]);
    if size != 4 && size != 8 {
        return None;
    }
    let big_endian = header[15] & 0x1 != 0;
    let pointer = |bytes: &[u8]| -> Option<u64> {
        let bytes = bytes.get(..size)?;
        let mut value: u64 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let shift = if big_endian {
                8 * (size - 1 - i)
            } else {
                8 * i
            };
            value |= u64::from(b) << shift;
        }
        Some(value)
    };
    let file = object::File::parse(binary).ok()?;
    let read = |address: u64, len: u64| -> Option<&'a [u8]> {
        file.segments()
            .find_map(|segment| segment.data_range(address, len).ok().flatten())
    };
    let string = |address: u64| -> Option<&'a [u8]> {
        let string_header = read(address, 2 * size as u64)?;
        let data = pointer(string_header)?;
        let len = pointer(string_header.get(size..)?)?;
        if len > MAX_POINTED_STRING {
            return None;
        }
        read(data, len)
    };
    let version = string(pointer(header.get(16..)?)?)?;
    let modinfo = string(pointer(header.get(16 + size..)?)?).unwrap_or_default();
    Some((version, modinfo))
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
            path: path.into(),
        },
    }
}

/// Packages from a module-info text (`path`, `mod`, `dep`, `=>` lines). A
/// module line without a path or a version names nothing a vulnerability
/// database could know (a replacement by a local directory has no version),
/// so it gives no package; a replacement drops the module it replaces.
pub fn parse_modinfo(toolchain: &str, modinfo: &str, path: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = Vec::new();
    // Whether the previous line was a module (`mod`/`dep`), and whether it
    // gave a package: what a `=>` line replaces.
    let (mut after_module, mut pushed) = (false, false);
    let push = |packages: &mut Vec<Package>, module: &str, version: &str| {
        let valid = !module.is_empty() && !version.is_empty();
        if valid {
            packages.push(go_package(module, version, path));
        }
        valid
    };
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", module, version, ..] if *version != "(devel)" => {
                pushed = push(&mut packages, module, version);
                after_module = true;
            }
            ["dep", module, version, ..] => {
                pushed = push(&mut packages, module, version);
                after_module = true;
            }
            ["=>", module, version, ..] if after_module => {
                if pushed {
                    packages.pop();
                }
                push(&mut packages, module, version);
                (after_module, pushed) = (false, false);
            }
            _ => (after_module, pushed) = (false, false),
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

    /// Found by the go_buildinfo fuzz target: module lines with an empty
    /// path or version became packages without a name or version.
    #[test]
    fn modules_without_path_or_version_are_no_packages() {
        let info = "mod\texample.com/app\t\t\ndep\t\tv1.0.0\t\ndep\tgithub.com/a/b\tv1.0.0\th1:y\n=>\t../b\t\t\ndep\tgithub.com/c/d\t\t\n=>\tgithub.com/fork/d\tv2.0.0\th1:z\n";
        let p = parse_modinfo("go1.21.4", info, "app");
        let names: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("github.com/fork/d", "v2.0.0"), ("stdlib", "1.21.4")]
        );
    }

    /// Module info framed by the 16-byte sentinels the Go linker writes.
    fn framed(modinfo: &str) -> Vec<u8> {
        let mut out = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        out.extend_from_slice(modinfo.as_bytes());
        out.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        out
    }

    /// A minimal little-endian ELF64 executable whose one load segment holds
    /// a pre-1.18 (pointer format) build info: the layout Go 1.13–1.17
    /// linkers wrote and Go's `debug/buildinfo` reads (`readString`: header
    /// pointers to `{data, len}` string headers). Synthetic: golang-go here
    /// (1.19) only writes the inline format, and no older toolchain is
    /// available offline.
    fn go117_style_elf(version: &str, modinfo: &[u8]) -> Vec<u8> {
        const VADDR: u64 = 0x40_0000;
        let mut elf = vec![0u8; 0x100];
        elf[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        let put16 =
            |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut elf, 16, 2); // ET_EXEC
        put16(&mut elf, 18, 62); // x86-64
        put32(&mut elf, 20, 1);
        put64(&mut elf, 24, VADDR + 0x100); // entry
        put64(&mut elf, 32, 64); // phoff
        put16(&mut elf, 52, 64); // ehsize
        put16(&mut elf, 54, 56); // phentsize
        put16(&mut elf, 56, 1); // phnum
        put16(&mut elf, 58, 64); // shentsize
        // Build info at 0x100: magic, pointer size 8, flags 0 (little-endian, pointers).
        let version_header = 0x120u64;
        let modinfo_header = 0x130u64;
        let version_data = 0x140u64;
        let modinfo_data = version_data + version.len() as u64;
        elf.extend_from_slice(MAGIC);
        elf.extend_from_slice(&[8, 0]);
        elf.extend_from_slice(&(VADDR + version_header).to_le_bytes());
        elf.extend_from_slice(&(VADDR + modinfo_header).to_le_bytes());
        elf.extend_from_slice(&(VADDR + version_data).to_le_bytes());
        elf.extend_from_slice(&(version.len() as u64).to_le_bytes());
        elf.extend_from_slice(&(VADDR + modinfo_data).to_le_bytes());
        elf.extend_from_slice(&(modinfo.len() as u64).to_le_bytes());
        elf.extend_from_slice(version.as_bytes());
        elf.extend_from_slice(modinfo);
        elf.resize(elf.len().max(1024), 0);
        let len = elf.len() as u64;
        // One PT_LOAD segment mapping the whole file at VADDR.
        put32(&mut elf, 64, 1);
        put32(&mut elf, 68, 5);
        put64(&mut elf, 72, 0);
        put64(&mut elf, 80, VADDR);
        put64(&mut elf, 88, VADDR);
        put64(&mut elf, 96, len);
        put64(&mut elf, 104, len);
        put64(&mut elf, 112, 0x1000);
        elf
    }

    #[test]
    fn reads_the_pre_1_18_pointer_format() {
        let info = "path\texample.com/go117\nmod\texample.com/go117\t(devel)\t\ndep\tgolang.org/x/text\tv0.3.6\th1:x\n";
        let elf = go117_style_elf("go1.17.13", &framed(info));
        let (version, modinfo) = read_buildinfo(&elf).unwrap();
        assert_eq!(version, "go1.17.13");
        assert_eq!(modinfo, info);
        let meta = FileMeta {
            path: "usr/bin/go117",
            size: elf.len() as u64,
            mode: 0o755,
        };
        let Ok(Detected::Packages(found)) = GoBinary.detect(&meta, &elf) else {
            panic!("no packages");
        };
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("golang.org/x/text", "v0.3.6"), ("stdlib", "1.17.13")]
        );
        // Dangling pointers or absurd lengths give nothing, never a panic.
        let mut broken = elf.clone();
        broken[0x100 + 16..0x100 + 24].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
        assert!(read_buildinfo(&broken).is_none());
        let mut huge = elf.clone();
        huge[0x128..0x130].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read_buildinfo(&huge).is_none());
        let mut odd = elf;
        odd[0x100 + 14] = 3;
        assert!(read_buildinfo(&odd).is_none());
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
