//! A synthetic OSV export of realistic size and shape, for the database
//! benchmark: `<root>/<Ecosystem>/all.zip`, one `<ID>.json` per record.
//!
//! Shape, modelled on the public export (osv-vulnerabilities bucket, 2025)
//! and on the real records in `../shared/osv`:
//! - per-ecosystem record counts in the proportions of the real export,
//!   dominated by npm's malicious-package reports (`MAL-*`: one package,
//!   `introduced: 0` or a one-version list, a short details text);
//! - distro records (`DEBIAN-CVE-*`, `UBUNTU-CVE-*`, `ALPINE-CVE-*`) with one
//!   `affected` entry per release; vendor advisories (`RHSA`, `SUSE-SU`,
//!   `ALSA`, `RLSA`) naming many binary packages; GitHub advisories with
//!   CVSS vectors and `database_specific.severity`; PyPI advisories with
//!   long explicit `versions` lists;
//! - package popularity follows a 1/rank law for distributions, so a few
//!   packages (Debian's `linux`, say) carry thousands of records, as in the
//!   real data, and a lighter law for language ecosystems, where the most
//!   advised packages carry about a hundred;
//! - record sizes: median about 1.2 KiB, a long tail up to tens of KiB.
//!
//! Deterministic (a fixed-seed splitmix64), so every run loads the same bytes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Bump when the generated corpus changes, so cached copies are rebuilt.
pub const CORPUS_VERSION: u32 = 1;

/// A small deterministic generator (splitmix64).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// An index in `0..n` with probability about proportional to 1/(rank+1).
    pub fn zipf(&mut self, n: usize) -> usize {
        let x = ((n as f64 + 1.0).ln() * self.unit()).exp() - 1.0;
        (x as usize).min(n.saturating_sub(1))
    }
    /// Like [`Rng::zipf`] with a much lighter head: the most popular of
    /// 100,000 packages gets about 0.3 % of the draws, not 9 %.
    pub fn zipf_light(&mut self, n: usize) -> usize {
        let x = ((n as f64 + 1.0).ln() * self.unit().sqrt()).exp() - 1.0;
        (x as usize).min(n.saturating_sub(1))
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// How versions of an ecosystem look.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    Deb,
    Apk,
    Rpm,
    Semver,
    Go,
    Pep440,
    Maven,
    Gem,
    Nuget,
}

/// How records of an ecosystem look.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// One CVE, one `affected` per release (Debian, Ubuntu, Alpine).
    DistroCve,
    /// One advisory naming many binary packages (RHSA, SUSE-SU, ALSA).
    VendorAdvisory,
    /// One package, ECOSYSTEM range; Wolfi / Chainguard.
    SinglePackage,
    /// Language ecosystems: GitHub advisories, malicious-package reports,
    /// the ecosystem's own database.
    Language,
}

pub struct EcosystemSpec {
    pub name: &'static str,
    pub records: usize,
    /// Distinct package names the records draw from.
    pub packages: usize,
    /// Releases (`Debian:<release>`); empty for language ecosystems.
    releases: &'static [&'static str],
    pub style: Style,
    kind: Kind,
    /// Record ID prefix.
    prefix: &'static str,
    /// Percent of records that are malicious-package reports (npm, PyPI).
    malicious: u64,
}

/// The ecosystems and their record counts: 506,000 records in all.
pub const ECOSYSTEMS: &[EcosystemSpec] = &[
    spec(
        "npm",
        215_000,
        160_000,
        &[],
        Style::Semver,
        Kind::Language,
        "GHSA",
        88,
    ),
    spec(
        "Debian",
        62_000,
        28_000,
        &["11", "12", "13"],
        Style::Deb,
        Kind::DistroCve,
        "DEBIAN-CVE",
        0,
    ),
    spec(
        "Ubuntu",
        45_000,
        25_000,
        &["20.04:LTS", "22.04:LTS", "24.04:LTS", "24.10"],
        Style::Deb,
        Kind::DistroCve,
        "UBUNTU-CVE",
        0,
    ),
    spec(
        "SUSE",
        40_000,
        12_000,
        &[
            "Linux Enterprise Server 15 SP5",
            "Linux Enterprise Server 15 SP6",
            "Linux Enterprise Micro 5.5",
        ],
        Style::Rpm,
        Kind::VendorAdvisory,
        "SUSE-SU",
        0,
    ),
    spec(
        "PyPI",
        32_000,
        20_000,
        &[],
        Style::Pep440,
        Kind::Language,
        "PYSEC",
        35,
    ),
    spec(
        "Alpine",
        26_000,
        4_000,
        &["v3.18", "v3.19", "v3.20", "v3.21"],
        Style::Apk,
        Kind::DistroCve,
        "ALPINE-CVE",
        0,
    ),
    spec(
        "Red Hat",
        22_000,
        9_000,
        &[
            "enterprise_linux:8::appstream",
            "enterprise_linux:9::appstream",
            "enterprise_linux:9::baseos",
        ],
        Style::Rpm,
        Kind::VendorAdvisory,
        "RHSA",
        0,
    ),
    spec(
        "openSUSE",
        14_000,
        10_000,
        &["Tumbleweed", "Leap 15.6"],
        Style::Rpm,
        Kind::VendorAdvisory,
        "openSUSE-SU",
        0,
    ),
    spec(
        "Chainguard",
        9_000,
        3_000,
        &[],
        Style::Apk,
        Kind::SinglePackage,
        "CGA",
        0,
    ),
    spec(
        "Maven",
        6_000,
        3_500,
        &[],
        Style::Maven,
        Kind::Language,
        "GHSA",
        0,
    ),
    spec(
        "Rocky Linux",
        6_000,
        3_000,
        &["8", "9"],
        Style::Rpm,
        Kind::VendorAdvisory,
        "RLSA",
        0,
    ),
    spec(
        "AlmaLinux",
        6_000,
        3_000,
        &["8", "9", "10"],
        Style::Rpm,
        Kind::VendorAdvisory,
        "ALSA",
        0,
    ),
    spec("Go", 5_000, 2_500, &[], Style::Go, Kind::Language, "GO", 0),
    spec(
        "Wolfi",
        5_000,
        2_000,
        &[],
        Style::Apk,
        Kind::SinglePackage,
        "CGA",
        0,
    ),
    spec(
        "Packagist",
        5_000,
        2_000,
        &[],
        Style::Semver,
        Kind::Language,
        "PKSA",
        0,
    ),
    spec(
        "RubyGems",
        2_500,
        1_200,
        &[],
        Style::Gem,
        Kind::Language,
        "GHSA",
        0,
    ),
    spec(
        "crates.io",
        2_500,
        1_500,
        &[],
        Style::Semver,
        Kind::Language,
        "RUSTSEC",
        0,
    ),
    spec(
        "NuGet",
        2_000,
        1_000,
        &[],
        Style::Nuget,
        Kind::Language,
        "GHSA",
        0,
    ),
];

#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    records: usize,
    packages: usize,
    releases: &'static [&'static str],
    style: Style,
    kind: Kind,
    prefix: &'static str,
    malicious: u64,
) -> EcosystemSpec {
    EcosystemSpec {
        name,
        records,
        packages,
        releases,
        style,
        kind,
        prefix,
        malicious,
    }
}

const SYLLABLES: &[&str] = &[
    "lib", "py", "ng", "x", "core", "net", "http", "json", "xml", "ssl", "z", "crypt", "gtk", "qt",
    "util", "tools", "data", "web", "auth", "cache", "fs", "io", "log", "math", "rs", "go", "node",
    "tiny", "fast", "open", "secure", "db", "sql", "img", "font", "av",
];

/// The `i`-th package name of an ecosystem (0 is the most popular).
pub fn package_name(spec: &EcosystemSpec, i: usize) -> String {
    // The heads of the distributions are real, famous names.
    const DEB_HEAD: &[&str] = &[
        "linux",
        "chromium",
        "firefox-esr",
        "thunderbird",
        "imagemagick",
        "tiff",
        "php8.2",
        "openjdk-17",
        "qemu",
        "binutils",
        "gpac",
        "mysql-8.0",
        "glibc",
        "openssl",
        "curl",
    ];
    const RPM_HEAD: &[&str] = &[
        "kernel",
        "kernel-devel",
        "kernel-headers",
        "firefox",
        "thunderbird",
        "openssl",
        "openssl-libs",
        "glibc",
        "curl",
        "libcurl",
        "python3",
        "python3-libs",
    ];
    const NPM_HEAD: &[&str] = &["lodash", "axios", "express", "next", "moment", "minimist"];
    let head: &[&str] = match spec.style {
        Style::Deb | Style::Apk => DEB_HEAD,
        Style::Rpm => RPM_HEAD,
        Style::Semver if spec.name == "npm" => NPM_HEAD,
        _ => &[],
    };
    if let Some(name) = head.get(i) {
        return (*name).to_string();
    }
    let mut n = i;
    let mut name = String::new();
    loop {
        name.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            break;
        }
        name.push('-');
    }
    match spec.style {
        Style::Go => format!("github.com/{}/{name}", SYLLABLES[i % 7]),
        Style::Maven => format!("org.{}.{}:{name}", SYLLABLES[i % 11], SYLLABLES[i % 5]),
        Style::Nuget => format!("{}.{name}", SYLLABLES[i % 9].to_uppercase()),
        Style::Semver if spec.name == "Packagist" => format!("{}/{name}", SYLLABLES[i % 13]),
        _ => format!("{name}{}", i % 97),
    }
}

/// A plausible version of the style; `rank` spreads the numbers.
pub fn version(rng: &mut Rng, style: Style) -> String {
    let (a, b, c) = (rng.below(8), rng.below(30), rng.below(40));
    match style {
        Style::Deb => {
            let epoch = if rng.chance(10) { "1:" } else { "" };
            let suffix = match rng.below(4) {
                0 => format!("-{}", rng.below(5) + 1),
                1 => format!("-{}+deb12u{}", rng.below(5) + 1, rng.below(4) + 1),
                2 => format!(
                    "-{}ubuntu{}.{}",
                    rng.below(5) + 1,
                    rng.below(3),
                    rng.below(9)
                ),
                _ => format!("~dfsg-{}", rng.below(5) + 1),
            };
            format!("{epoch}{a}.{b}.{c}{suffix}")
        }
        Style::Apk => {
            let pre = if rng.chance(5) { "_rc1" } else { "" };
            format!("{a}.{b}.{c}{pre}-r{}", rng.below(12))
        }
        Style::Rpm => {
            let epoch = if rng.chance(15) { "1:" } else { "" };
            format!(
                "{epoch}{a}.{b}.{c}-{}.el9_{}",
                rng.below(30) + 1,
                rng.below(5)
            )
        }
        Style::Semver | Style::Gem | Style::Nuget => {
            if rng.chance(8) {
                format!("{a}.{b}.{c}-beta.{}", rng.below(5))
            } else {
                format!("{a}.{b}.{c}")
            }
        }
        Style::Go => format!("{a}.{b}.{c}"),
        Style::Pep440 => {
            if rng.chance(8) {
                format!("{a}.{b}.{c}rc{}", rng.below(3) + 1)
            } else {
                format!("{a}.{b}.{c}")
            }
        }
        Style::Maven => {
            if rng.chance(10) {
                format!("{a}.{b}.{c}.Final")
            } else {
                format!("{a}.{b}.{c}")
            }
        }
    }
}

/// A version strictly above `v` under every style (bumps the minor).
fn above(rng: &mut Rng, style: Style) -> (String, String) {
    let low = version(rng, style);
    let (a, b) = (rng.below(8), rng.below(30));
    let high = match style {
        Style::Deb => format!("{}:{a}.{b}.0-1", 3 + rng.below(2)),
        Style::Rpm => format!("{}:{a}.{b}.0-1.el9", 3 + rng.below(2)),
        Style::Apk => format!("{}.{b}.0-r0", a + 10),
        _ => format!("{}.{b}.0", a + 10),
    };
    (low, high)
}

const WORDS: &[&str] = &[
    "a",
    "buffer",
    "overflow",
    "in",
    "the",
    "parser",
    "allows",
    "remote",
    "attackers",
    "to",
    "cause",
    "denial",
    "of",
    "service",
    "via",
    "crafted",
    "input",
    "use-after-free",
    "when",
    "handling",
    "certificates",
    "integer",
    "heap",
    "read",
    "out-of-bounds",
    "request",
    "smuggling",
    "path",
    "traversal",
    "injection",
    "memory",
    "leak",
    "NULL",
    "pointer",
];

fn text(rng: &mut Rng, words: usize) -> String {
    let mut out = String::with_capacity(words * 7);
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
    out
}

fn timestamp(rng: &mut Rng) -> String {
    format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        14 + rng.below(12),
        rng.below(12) + 1,
        rng.below(28) + 1,
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

const CVSS3: &[&str] = &[
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
];
const LABELS: &[&str] = &["LOW", "MODERATE", "HIGH", "CRITICAL"];

fn range(style: Style, events: &[(&str, &str)]) -> serde_json::Value {
    let kind = match style {
        Style::Semver | Style::Go => "SEMVER",
        _ => "ECOSYSTEM",
    };
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(k, v)| serde_json::json!({ *k: v }))
        .collect();
    serde_json::json!({"type": kind, "events": events})
}

/// One record of `spec`, the `n`-th.
pub fn record(spec: &EcosystemSpec, n: usize, rng: &mut Rng) -> (String, serde_json::Value) {
    use serde_json::json;
    let cve = format!("CVE-{}-{}", 2014 + n % 12, 1000 + n);
    let modified = timestamp(rng);
    let published = timestamp(rng);
    match spec.kind {
        Kind::DistroCve => {
            let id = format!("{}-{}", spec.prefix, &cve[4..]);
            let name = package_name(spec, rng.zipf(spec.packages));
            let mut affected = Vec::new();
            for release in spec.releases {
                if rng.chance(25) {
                    continue;
                }
                let (_, fixed) = above(rng, spec.style);
                let events: Vec<(&str, &str)> = if rng.chance(15) {
                    vec![("introduced", "0")]
                } else {
                    vec![("introduced", "0"), ("fixed", fixed.as_str())]
                };
                let mut entry = json!({
                    "package": {"ecosystem": format!("{}:{release}", spec.name), "name": name,
                                "purl": format!("pkg:{}/{}/{name}", spec.name.to_lowercase(), spec.name.to_lowercase())},
                    "ranges": [range(spec.style, &events)],
                });
                if spec.name == "Debian" {
                    entry["ecosystem_specific"] = json!({"urgency": rng.pick(&["low", "medium", "high", "not yet assigned", "unimportant"])});
                }
                affected.push(entry);
            }
            let words = 20 + rng.below(60);
            let details = text(rng, words);
            let mut record = json!({
                "schema_version": "1.6.0", "id": id, "modified": modified, "published": published,
                "upstream": [cve], "details": details,
                "affected": affected,
            });
            if spec.name == "Ubuntu" {
                record["severity"] = json!([{"type": "Ubuntu", "score": rng.pick(&["low", "medium", "high", "negligible"])}]);
                record["aliases"] = json!([]);
                record["related"] = json!([cve]);
            } else if rng.chance(30) {
                record["severity"] = json!([{"type": "CVSS_V3", "score": rng.pick(CVSS3)}]);
            }
            (id, record)
        }
        Kind::VendorAdvisory => {
            let id = format!("{}-{}:{}", spec.prefix, 2014 + n % 12, 10_000 + n);
            let release = spec.releases[rng.below(spec.releases.len())];
            let source = rng.zipf(spec.packages);
            let binaries = 1 + rng.zipf(40);
            let mut affected = Vec::new();
            let fixed = above(rng, spec.style).1;
            for b in 0..binaries {
                let base = package_name(spec, source);
                let name = if b == 0 {
                    base
                } else {
                    format!("{base}-sub{b}")
                };
                affected.push(json!({
                    "package": {"ecosystem": format!("{}:{release}", spec.name), "name": name},
                    "ranges": [range(spec.style, &[("introduced", "0"), ("fixed", fixed.as_str())])],
                }));
            }
            let cves: Vec<String> = (0..1 + rng.zipf(20))
                .map(|k| format!("CVE-{}-{}", 2014 + n % 12, 1000 + n + k))
                .collect();
            let words = 30 + rng.below(80);
            let details = text(rng, words);
            let record = json!({
                "schema_version": "1.6.0", "id": id, "modified": modified, "published": published,
                "upstream": cves, "summary": format!("Important: {} security update", package_name(spec, source)),
                "details": details,
                "affected": affected,
                "references": [{"type": "ADVISORY", "url": format!("https://example.invalid/{id}")}],
                "severity": if rng.chance(60) { json!([{"type": "CVSS_V3", "score": rng.pick(CVSS3)}]) } else { json!([]) },
            });
            (id, record)
        }
        Kind::SinglePackage => {
            let id = format!(
                "{}-{:04x}-{:04x}-{:04x}",
                spec.prefix,
                n,
                rng.below(65536),
                rng.below(65536)
            );
            let name = package_name(spec, rng.zipf(spec.packages));
            let fixed = above(rng, spec.style).1;
            let record = json!({
                "schema_version": "1.7.0", "id": id, "modified": modified, "published": published,
                "aliases": [cve], "details": text(rng, 10),
                "affected": [{"package": {"ecosystem": spec.name, "name": name},
                              "ranges": [range(spec.style, &[("introduced", "0"), ("fixed", fixed.as_str())])]}],
            });
            (id, record)
        }
        Kind::Language => {
            if rng.chance(spec.malicious) {
                // A malicious-package report: tiny, mostly unique names.
                let id = format!("MAL-{}-{}", 2022 + n % 4, n);
                let name = format!(
                    "{}-{}",
                    package_name(spec, spec.packages / 10 + rng.below(spec.packages)),
                    n % 1000
                );
                let mut affected = json!({"package": {"ecosystem": spec.name, "name": name},
                                          "database_specific": {"source": "https://github.com/ossf/malicious-packages"}});
                if rng.chance(50) {
                    affected["versions"] = json!([version(rng, spec.style)]);
                } else {
                    affected["ranges"] = json!([range(spec.style, &[("introduced", "0")])]);
                }
                let record = json!({
                    "schema_version": "1.5.0", "id": id, "modified": modified, "published": published,
                    "summary": format!("Malicious code in {name} ({})", spec.name),
                    "details": format!("\n---\n_-= Per source details. Do not edit below this line.=-_\n\n## Source: ossf-package-analysis ({})\nThe package {name} was found to contain malicious code.\n", rng.next()),
                    "affected": [affected],
                    "database_specific": {"malicious-packages-origins": [{"source": "ossf-package-analysis", "sha256": format!("{:016x}{:016x}", rng.next(), rng.next())}]},
                });
                return (id, record);
            }
            let id = if spec.prefix == "GHSA" || rng.chance(40) {
                format!(
                    "GHSA-{:04x}-{:04x}-{:04x}",
                    n & 0xffff,
                    rng.below(65536),
                    rng.below(65536)
                )
            } else {
                format!("{}-{}-{}", spec.prefix, 2014 + n % 12, n)
            };
            let name = package_name(spec, rng.zipf_light(spec.packages));
            let ranges_n = 1 + rng.zipf(4);
            let mut ranges = Vec::new();
            let mut fixes = Vec::new();
            for _ in 0..ranges_n {
                let (low, high) = above(rng, spec.style);
                fixes.push(high.clone());
                ranges.push(range(
                    spec.style,
                    &[("introduced", low.as_str()), ("fixed", high.as_str())],
                ));
            }
            let mut affected = json!({"package": {"ecosystem": spec.name, "name": name,
                                                  "purl": format!("pkg:{}/{name}", spec.name.to_lowercase())},
                                      "ranges": ranges});
            // PyPI's own advisories list every affected version.
            if spec.style == Style::Pep440 && rng.chance(50) {
                let count = 5 + rng.zipf(200);
                let versions: Vec<String> = (0..count)
                    .map(|k| format!("{}.{}.{}", k / 100, (k / 10) % 10, k % 10))
                    .collect();
                affected["versions"] = json!(versions);
            }
            let summary = text(rng, 8);
            let words = 40 + rng.below(150);
            let details = text(rng, words);
            let mut record = json!({
                "schema_version": "1.6.0", "id": id, "modified": modified, "published": published,
                "aliases": [cve], "summary": summary, "details": details,
                "affected": [affected],
                "references": [{"type": "WEB", "url": format!("https://example.invalid/{id}")},
                               {"type": "PACKAGE", "url": format!("https://example.invalid/{name}")}],
            });
            if rng.chance(70) {
                record["severity"] = json!([{"type": "CVSS_V3", "score": rng.pick(CVSS3)}]);
                record["database_specific"] = json!({"severity": rng.pick(LABELS), "cwe_ids": ["CWE-79"],
                                                      "github_reviewed": true, "nvd_published_at": timestamp(rng)});
            }
            (id, record)
        }
    }
}

/// Writes one ecosystem's `all.zip` under `root`; returns (records, bytes of JSON).
pub fn write_ecosystem(
    root: &Path,
    spec: &EcosystemSpec,
    seed: u64,
) -> std::io::Result<(usize, u64)> {
    let dir = root.join(spec.name);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join("all.zip.tmp");
    let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6));
    let mut rng = Rng::new(seed);
    let mut json_bytes = 0u64;
    let mut seen = std::collections::HashSet::new();
    let mut name = String::new();
    for n in 0..spec.records {
        let (id, record) = record(spec, n, &mut rng);
        if !seen.insert(id.clone()) {
            continue;
        }
        name.clear();
        let _ = write!(name, "{id}.json");
        let body = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        json_bytes += body.len() as u64;
        zip.start_file(name.as_str(), options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&body)?;
    }
    let count = seen.len();
    zip.finish().map_err(std::io::Error::other)?.flush()?;
    std::fs::rename(&tmp, dir.join("all.zip"))?;
    Ok((count, json_bytes))
}
