//! Package URLs for OS packages (`pkg:deb`, `pkg:rpm`, `pkg:apk`).
//!
//! Detectors see one file and cannot know the distribution, so they build a
//! purl with a default namespace and no `distro`; [`qualify_with_os`] (called
//! by `assemble`) rebuilds it once the image's OS is known.

use crate::model::{OsInfo, Package, PackageKind};

/// Builds an OS package's purl. An `epoch:` prefix of the version (dpkg and
/// rpm) becomes the `epoch` qualifier, as in the purl spec's rpm examples.
/// Qualifiers are sorted by key.
pub fn os_purl(
    kind: PackageKind,
    namespace: &str,
    name: &str,
    version: &str,
    arch: Option<&str>,
    distro: Option<&str>,
) -> String {
    let (epoch, version) = match version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            (Some(epoch), rest)
        }
        _ => (None, version),
    };
    let mut purl = format!(
        "pkg:{}/{}/{}@{}",
        kind.as_str(),
        encode(&namespace.to_ascii_lowercase()),
        encode(name),
        encode(version)
    );
    let qualifiers = [("arch", arch), ("distro", distro), ("epoch", epoch)];
    let mut separator = '?';
    for (key, value) in qualifiers {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            purl.push(separator);
            purl.push_str(key);
            purl.push('=');
            purl.push_str(&encode(value));
            separator = '&';
        }
    }
    purl
}

/// Rebuilds an OS package's purl with the image's distribution as namespace
/// and `distro=<family>-<version>`; other packages are left alone.
pub fn qualify_with_os(package: &mut Package, os: &OsInfo) {
    if !package.kind.is_os() || os.family.is_empty() {
        return;
    }
    let distro = if os.version.is_empty() {
        os.family.clone()
    } else {
        format!("{}-{}", os.family, os.version)
    };
    package.purl = os_purl(
        package.kind,
        &os.family,
        &package.name,
        &package.version,
        package.arch.as_deref(),
        Some(&distro),
    );
}

/// Percent-encodes everything except RFC 3986 unreserved characters (so a
/// Debian `+` becomes `%2B`, as the purl spec and Trivy write it).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_spec_shaped_purls() {
        assert_eq!(
            os_purl(
                PackageKind::Deb,
                "debian",
                "libc6",
                "2.36-9+deb12u4",
                Some("amd64"),
                Some("debian-12")
            ),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            os_purl(
                PackageKind::Rpm,
                "fedora",
                "centerim",
                "1:4.22.10-1.el6",
                Some("i686"),
                None
            ),
            "pkg:rpm/fedora/centerim@4.22.10-1.el6?arch=i686&epoch=1"
        );
        assert_eq!(
            os_purl(PackageKind::Apk, "alpine", "musl", "1.2.4-r2", None, None),
            "pkg:apk/alpine/musl@1.2.4-r2"
        );
    }
}
