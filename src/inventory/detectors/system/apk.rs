//! apk: `lib/apk/db/installed` (or `usr/lib/apk/db/installed`), one record per package (`P:` name, `V:`
//! version, `A:` arch, `o:` origin, the source package advisories name).

use crate::inventory::detectors::{DetectError, Detected, Detector, FileMeta};
use crate::inventory::purl::purl;
use crate::model::{Location, Package, PackageKind};

pub struct Apk;

pub fn parse_installed(text: &str, path: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for record in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut origin = None;
        for line in record.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v.trim()),
                Some(("V", v)) => version = Some(v.trim()),
                Some(("A", v)) => arch = Some(v.trim()),
                Some(("o", v)) => origin = Some(v.trim()),
                _ => {}
            }
        }
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        out.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            kind: PackageKind::Apk,
            purl: purl(
                "apk",
                Some("alpine"),
                name,
                version,
                &[("arch", arch.unwrap_or(""))],
            ),
            source_name: origin.map(String::from),
            source_version: None,
            arch: arch.map(String::from),
            location: Location {
                layer: None,
                path: path.to_string(),
            },
        });
    }
    out
}

impl Detector for Apk {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        // apk-tools 3 moved the database under usr/.
        file.path == "lib/apk/db/installed" || file.path == "usr/lib/apk/db/installed"
    }

    fn detect(&self, file: &FileMeta<'_>, data: &[u8]) -> Result<Detected, DetectError> {
        let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
        Ok(Detected::Packages(parse_installed(&text, file.path)))
    }
}
