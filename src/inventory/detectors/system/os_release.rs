//! The operating system: `os-release` (`ID`, `VERSION_ID`, `PRETTY_NAME`)
//! and the older release files (`alpine-release`, `debian_version`,
//! `redhat-release`), with end-of-life releases marked.

use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};
use crate::model::OsInfo;

pub struct OsRelease;

const FILES: [&str; 5] = [
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "etc/debian_version",
    "etc/redhat-release",
];

/// Releases past their end of life, as of 2026-11. A release not listed is
/// taken as supported.
fn is_eol(family: &str, version: &str) -> bool {
    let mut parts = version.split('.');
    let major: u32 = parts
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(u32::MAX);
    let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    match family {
        "debian" => major <= 10,
        "ubuntu" => {
            let lts = minor == 4 && major.is_multiple_of(2);
            if lts { major <= 18 } else { major < 25 }
        }
        "alpine" => major < 3 || (major == 3 && minor <= 19),
        "centos" => true,
        "rhel" | "almalinux" | "rocky" | "ol" => major <= 7,
        "fedora" => major <= 40,
        "opensuse-leap" => major < 15 || (major == 15 && minor <= 5),
        "amzn" => major == 1 || version.starts_with("2018"),
        _ => false,
    }
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v);
    v.replace("\\\"", "\"")
}

fn parse_os_release(text: &str) -> Option<OsInfo> {
    let mut id = None;
    let mut version = None;
    let mut pretty = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key.trim() {
            "ID" => id = Some(unquote(value).to_ascii_lowercase()),
            "VERSION_ID" => version = Some(unquote(value)),
            "PRETTY_NAME" => pretty = Some(unquote(value)),
            _ => {}
        }
    }
    let family = id.filter(|i| !i.is_empty())?;
    let version = version.unwrap_or_default();
    Some(OsInfo {
        eol: is_eol(&family, &version),
        family,
        version,
        pretty_name: pretty,
    })
}

/// `Red Hat Enterprise Linux release 8.9 (Ootpa)`, `CentOS Linux release 7.9.2009 (Core)`.
fn parse_redhat_release(text: &str) -> Option<OsInfo> {
    let line = text.lines().next()?.trim();
    let version = line
        .split_whitespace()
        .skip_while(|w| *w != "release")
        .nth(1)?
        .to_string();
    let lower = line.to_ascii_lowercase();
    let family = if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else {
        "rhel"
    };
    Some(OsInfo {
        eol: is_eol(family, &version),
        family: family.into(),
        version,
        pretty_name: Some(line.to_string()),
    })
}

fn single_line(family: &str, text: &str) -> Option<OsInfo> {
    let version = text.lines().next()?.trim().to_string();
    if version.is_empty() {
        return None;
    }
    Some(OsInfo {
        eol: is_eol(family, &version),
        family: family.into(),
        version,
        pretty_name: None,
    })
}

impl Detector for OsRelease {
    fn name(&self) -> &'static str {
        "os-release"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        FILES.contains(&file.path) && file.size < 64 << 10
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let text = String::from_utf8_lossy(data);
        let os = match file.path {
            "etc/os-release" | "usr/lib/os-release" => parse_os_release(&text),
            "etc/alpine-release" => single_line("alpine", &text),
            "etc/debian_version" => single_line("debian", &text),
            _ => parse_redhat_release(&text),
        };
        Ok(os.map_or(Detected::Nothing, Detected::Os))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_and_fallbacks() {
        let os = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
        )
        .unwrap();
        assert_eq!(
            (os.family.as_str(), os.version.as_str(), os.eol),
            ("debian", "12", false)
        );
        let old = parse_os_release("ID=debian\nVERSION_ID=\"9\"\n").unwrap();
        assert!(old.eol);
        let rh = parse_redhat_release("CentOS Linux release 7.9.2009 (Core)\n").unwrap();
        assert_eq!(
            (rh.family.as_str(), rh.version.as_str(), rh.eol),
            ("centos", "7.9.2009", true)
        );
        assert_eq!(single_line("alpine", "3.20.3\n").unwrap().version, "3.20.3");
        assert!(parse_os_release("garbage\n").is_none());
    }
}
