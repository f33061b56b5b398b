//! The operating system: `os-release` and the older `*-release` files.

use crate::inventory::detectors::{DetectError, Detected, Detector, DetectorLimits, FileMeta};
use crate::model::OsInfo;

const ETC_OS_RELEASE: &str = "etc/os-release";
const USR_LIB_OS_RELEASE: &str = "usr/lib/os-release";
const ALPINE_RELEASE: &str = "etc/alpine-release";
const REDHAT_RELEASE: &str = "etc/redhat-release";
const DEBIAN_VERSION: &str = "etc/debian_version";
/// These files are a few hundred bytes; anything far bigger is not one.
pub const MAX_RELEASE_FILE_BYTES: u64 = 64 * 1024;

/// How authoritative an OS file is; lower wins. `etc/os-release` beats
/// `usr/lib/os-release` (the former overrides the latter by spec), and a
/// real os-release beats the distribution-specific fallbacks.
pub fn source_rank(path: &str) -> u8 {
    match path {
        ETC_OS_RELEASE => 0,
        USR_LIB_OS_RELEASE => 1,
        ALPINE_RELEASE | REDHAT_RELEASE => 2,
        DEBIAN_VERSION => 3,
        _ => u8::MAX,
    }
}

pub struct OsReleaseDetector;

impl Detector for OsReleaseDetector {
    fn name(&self) -> &'static str {
        "os-release"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        source_rank(file.path) != u8::MAX
    }

    fn size_limit(&self, limits: &DetectorLimits) -> Option<(&'static str, u64)> {
        Some(("maxOsReleaseBytes", limits.max_os_release_bytes))
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let text = String::from_utf8_lossy(data);
        let text = text.as_ref();
        let info = match file.path {
            ETC_OS_RELEASE | USR_LIB_OS_RELEASE => parse_os_release(text),
            ALPINE_RELEASE => first_line(text).map(|v| os("alpine", v, None)),
            DEBIAN_VERSION => first_line(text).map(|v| os("debian", v, None)),
            REDHAT_RELEASE => parse_redhat_release(text),
            _ => None,
        };
        Ok(info.map_or(Detected::Nothing, Detected::Os))
    }
}

fn os(family: &str, version: &str, pretty_name: Option<String>) -> OsInfo {
    let family = family.to_ascii_lowercase();
    let eol = is_end_of_life(&family, version);
    OsInfo {
        family,
        version: version.to_string(),
        pretty_name,
        eol,
        cpe_name: None,
    }
}

fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// Parses os-release (`KEY=value`, values optionally quoted, `\` escapes).
pub fn parse_os_release(text: &str) -> Option<OsInfo> {
    let mut id = None;
    let mut version_id = None;
    let mut pretty_name = None;
    let mut cpe_name = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key.trim() {
            "ID" => id = Some(value),
            "VERSION_ID" => version_id = Some(value),
            "PRETTY_NAME" => pretty_name = Some(value),
            "CPE_NAME" => cpe_name = Some(value).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    let id = id.filter(|v| !v.is_empty())?;
    Some(OsInfo {
        cpe_name,
        ..os(&id, version_id.as_deref().unwrap_or(""), pretty_name)
    })
}

fn unquote(raw: &str) -> String {
    let inner = match raw.as_bytes() {
        [b'"', .., b'"'] | [b'\'', .., b'\''] if raw.len() >= 2 => {
            raw.get(1..raw.len() - 1).unwrap_or(raw)
        }
        _ => raw,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `CentOS Linux release 7.9.2009 (Core)`, `Red Hat Enterprise Linux release 8.6 (Ootpa)`, …
fn parse_redhat_release(text: &str) -> Option<OsInfo> {
    let line = first_line(text)?;
    let (product, rest) = line.split_once(" release ")?;
    let version = rest.split_whitespace().next()?;
    let product = product.to_ascii_lowercase();
    let family = if product.starts_with("centos") {
        "centos"
    } else if product.starts_with("red hat") {
        "rhel"
    } else if product.starts_with("rocky") {
        "rocky"
    } else if product.starts_with("almalinux") {
        "almalinux"
    } else if product.starts_with("fedora") {
        "fedora"
    } else if product.starts_with("oracle") {
        "ol"
    } else {
        return None;
    };
    // Namespaces use the major version for RHEL-like systems (`7`, not `7.9.2009`).
    let major = if family == "fedora" {
        version
    } else {
        version.split('.').next().unwrap_or(version)
    };
    Some(os(family, major, Some(line.to_string())))
}

/// Releases past their end of community/standard support, as of 2026-11-23
/// (paid extended support such as Ubuntu ESM, Debian ELTS or RHEL ELS is not
/// counted). Sources: the distributions' release pages.
/// - Debian ≤ 11 (bullseye LTS ended 2026-08-31)
/// - Ubuntu LTS ≤ 20.04 (standard support ended 2025-05), non-LTS ≤ 25.10 (ended 2026-07)
/// - Alpine ≤ 3.21 (3.21 ended 2026-11-01)
/// - CentOS Linux / Stream ≤ 8 (Stream 9 runs to 2027-05)
/// - RHEL / Oracle Linux ≤ 7, Amazon Linux 1 (20xx.yy) and 2 (ended 2026-06-30)
/// - Fedora ≤ 42, openSUSE Leap ≤ 15.6 (ended 2026-04-30)
pub fn is_end_of_life(family: &str, version: &str) -> bool {
    let Some((major, minor)) = major_minor(version) else {
        return false;
    };
    match family {
        "debian" => major <= 11,
        "ubuntu" => {
            let lts = major % 2 == 0 && minor == 4;
            if lts {
                (major, minor) <= (20, 4)
            } else {
                (major, minor) <= (25, 10)
            }
        }
        "alpine" => (major, minor) <= (3, 21),
        "centos" => major <= 8,
        "rhel" | "ol" => major <= 7,
        "amzn" => major <= 2 || (2000..2023).contains(&major),
        "fedora" => major <= 42,
        "opensuse-leap" => (major, minor) <= (15, 6),
        _ => false,
    }
}

fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(path: &str, text: &str) -> Detected {
        let meta = FileMeta {
            path,
            size: text.len() as u64,
            mode: 0o644,
        };
        OsReleaseDetector
            .detect(&meta, text.as_bytes())
            .unwrap_or(Detected::Nothing)
    }

    #[test]
    fn reads_os_release_fields() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(
            detect("usr/lib/os-release", text),
            Detected::Os(OsInfo {
                family: "debian".into(),
                version: "12".into(),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                eol: false,
                cpe_name: None,
            })
        );
    }

    #[test]
    fn reads_fallback_files() {
        let Detected::Os(alpine) = detect("etc/alpine-release", "3.18.4\n") else {
            panic!("no os")
        };
        assert_eq!(
            (alpine.family.as_str(), alpine.version.as_str(), alpine.eol),
            ("alpine", "3.18.4", true)
        );
        let Detected::Os(centos) = detect(
            "etc/redhat-release",
            "CentOS Linux release 7.9.2009 (Core)\n",
        ) else {
            panic!("no os")
        };
        assert_eq!(
            (centos.family.as_str(), centos.version.as_str(), centos.eol),
            ("centos", "7", true)
        );
        let Detected::Os(deb) = detect("etc/debian_version", "12.5\n") else {
            panic!("no os")
        };
        assert_eq!(
            (deb.family.as_str(), deb.version.as_str(), deb.eol),
            ("debian", "12.5", false)
        );
    }

    #[test]
    fn end_of_life_table() {
        assert!(is_end_of_life("debian", "10"));
        assert!(!is_end_of_life("debian", "12"));
        assert!(is_end_of_life("ubuntu", "18.04"));
        assert!(is_end_of_life("ubuntu", "23.10"));
        assert!(!is_end_of_life("ubuntu", "22.04"));
        assert!(!is_end_of_life("ubuntu", "24.04"));
        assert!(is_end_of_life("alpine", "3.18.4"));
        assert!(!is_end_of_life("alpine", "3.22.1"));
        assert!(!is_end_of_life("wolfi", "20230201"));
        assert!(is_end_of_life("centos", "7"));
    }
}
