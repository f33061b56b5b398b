//! Each version ordering against the real tool that defines it, on
//! thousands of pairs generated from fixed seeds with adversarial pieces:
//! epochs, tildes, carets, pre-releases, build metadata, leading zeros,
//! odd separators. The tools are installed by scripts/deps/version.sh.

use scangate::version::{VersionScheme, compare};
use std::cmp::Ordering;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A small deterministic generator (splitmix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program` with the pairs on stdin, one `A\tB` a line, and reads one
/// ordering a line back.
/// `None` where the tool refuses a version of the pair.
fn oracle(mut command: Command, pairs: &[(String, String)]) -> Vec<Option<Ordering>> {
    let mut child = command
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start the oracle {command:?}: {e} (run scripts/deps/version.sh)")
        });
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| match l.trim() {
            "E" => None,
            n => Some(n.parse::<i32>().unwrap().cmp(&0)),
        })
        .collect()
}

/// Every pair the tool orders, we order the same. Pairs the tool refuses
/// are not judged (scangate is more lenient on purpose: advisory data has
/// `v` prefixes and leading zeros), but most pairs must be valid.
fn check(scheme: VersionScheme, pairs: &[(String, String)], truth: &[Option<Ordering>]) {
    assert_eq!(pairs.len(), truth.len(), "the oracle answered every pair");
    let judged = truth.iter().filter(|t| t.is_some()).count();
    assert!(
        judged * 10 >= pairs.len() * 7,
        "only {judged} of {} pairs were valid for the tool",
        pairs.len()
    );
    let mut wrong = Vec::new();
    for ((a, b), want) in pairs.iter().zip(truth) {
        let Some(want) = want else { continue };
        match compare(scheme, a, b) {
            Ok(got) if got == *want => {}
            got => wrong.push(format!("{a:?} vs {b:?}: ours {got:?}, tool {want:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} pairs differ:\n{}",
        wrong.len(),
        pairs.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

/// Pairs that are often close: the second is a mutation of the first.
fn pairs(seed: u64, n: usize, make: impl Fn(&mut Rng) -> String) -> Vec<(String, String)> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let a = make(&mut rng);
            let b = if rng.chance(40) {
                a.clone()
            } else {
                make(&mut rng)
            };
            let b = if rng.chance(30) {
                mutate(&mut rng, &b)
            } else {
                b
            };
            (a, b)
        })
        .collect()
}

/// Changes one digit, or appends a short piece, keeping the shape.
fn mutate(rng: &mut Rng, v: &str) -> String {
    let digits: Vec<usize> = v
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)
        .collect();
    if digits.is_empty() || rng.chance(30) {
        return format!("{v}{}", rng.pick(&["0", "1", "a", ".0", "9"]));
    }
    let i = digits[rng.below(digits.len())];
    let mut s = v.to_string();
    s.replace_range(i..i + 1, rng.pick(&["0", "1", "2", "9"]));
    s
}

fn number(rng: &mut Rng) -> String {
    rng.pick(&[
        "0",
        "1",
        "2",
        "9",
        "10",
        "01",
        "007",
        "123",
        "99999999999999999999",
    ])
    .to_string()
}

fn dotted(rng: &mut Rng, max_parts: usize) -> String {
    (0..1 + rng.below(max_parts))
        .map(|_| number(rng))
        .collect::<Vec<_>>()
        .join(".")
}

#[test]
fn dpkg_matches_dpkg_compare_versions() {
    let make = |rng: &mut Rng| {
        let mut v = String::new();
        if rng.chance(20) {
            v.push_str(&format!("{}:", rng.pick(&["0", "1", "2", "10"])));
        }
        v.push_str(&dotted(rng, 4));
        for _ in 0..rng.below(3) {
            v.push_str(rng.pick(&[
                "~rc1",
                "~",
                "~~",
                "+dfsg",
                "+b1",
                "a",
                "b",
                ".",
                "+",
                "~beta2",
                "git20240101",
            ]));
        }
        if rng.chance(70) {
            v.push('-');
            v.push_str(&dotted(rng, 2));
            v.push_str(rng.pick(&[
                "",
                "~deb12u1",
                "ubuntu0.22.04.1",
                "+deb12u2",
                "~bpo11+1",
                "build1",
            ]));
        }
        v
    };
    let pairs = pairs(0xD9C6, 1500, make);
    let script = r#"while IFS="$(printf '\t')" read -r a b; do
        if dpkg --compare-versions "$a" lt "$b"; then echo -1;
        elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done"#;
    let mut command = Command::new("bash");
    command.args(["-c", script]);
    let truth = oracle(command, &pairs);
    check(VersionScheme::Dpkg, &pairs, &truth);
}

#[test]
fn rpm_matches_rpm_label_compare() {
    let make = |rng: &mut Rng| {
        let mut v = String::new();
        if rng.chance(25) {
            v.push_str(&format!("{}:", rng.pick(&["0", "1", "2", "10"])));
        }
        v.push_str(&dotted(rng, 4));
        for _ in 0..rng.below(3) {
            v.push_str(rng.pick(&[
                "~rc1", "~", "^", "^git1", "a", "p1", "_1", ".", "+", "~beta", "xyz", ".",
            ]));
        }
        v.push('-');
        v.push_str(&dotted(rng, 3));
        v.push_str(rng.pick(&[
            "",
            ".el9",
            ".el9_2",
            ".fc39",
            "~1",
            "^1",
            ".module+el8.9.0+1234+abcd",
        ]));
        v
    };
    let pairs = pairs(0x59A1, 2000, make);
    let mut command = Command::new("/usr/bin/python3");
    command.arg(root().join("tests/oracles/rpm_compare.py"));
    let truth = oracle(command, &pairs);
    check(VersionScheme::Rpm, &pairs, &truth);
}

#[test]
fn pep440_matches_python_packaging() {
    let make = |rng: &mut Rng| {
        let mut v = String::new();
        if rng.chance(10) {
            v.push_str(&format!("{}!", rng.pick(&["1", "2"])));
        }
        v.push_str(&dotted(rng, 4));
        if rng.chance(35) {
            v.push_str(rng.pick(&["a", "b", "rc", "c", "alpha", "beta", "pre", "preview"]));
            v.push_str(rng.pick(&["", "0", "1", "12"]));
        }
        if rng.chance(20) {
            v.push_str(rng.pick(&[".post1", ".post0", "-1", ".post"]));
        }
        if rng.chance(20) {
            v.push_str(rng.pick(&[".dev0", ".dev1", ".dev"]));
        }
        if rng.chance(15) {
            v.push_str(rng.pick(&["+local", "+1.2", "+ubuntu.1", "+abc.5"]));
        }
        v
    };
    let pairs = pairs(0x440, 2000, make);
    let venv = std::env::var("VENV").unwrap_or_else(|_| root().join(".venv").display().to_string());
    let mut command = Command::new(Path::new(&venv).join("bin/python"));
    command.arg(root().join("tests/oracles/pep440_compare.py"));
    let truth = oracle(command, &pairs);
    check(VersionScheme::Pep440, &pairs, &truth);
}

#[test]
fn semver_matches_node_semver() {
    let make = |rng: &mut Rng| {
        let core = |rng: &mut Rng| rng.pick(&["0", "1", "2", "10", "11", "123"]).to_string();
        let mut v = format!("{}.{}.{}", core(rng), core(rng), core(rng));
        if rng.chance(40) {
            let ids: Vec<&str> = (0..1 + rng.below(3))
                .map(|_| {
                    rng.pick(&[
                        "alpha", "beta", "rc", "0", "1", "2", "11", "x-y", "a1", "1a",
                    ])
                })
                .collect();
            v.push('-');
            v.push_str(&ids.join("."));
        }
        if rng.chance(15) {
            v.push_str(rng.pick(&["+build", "+001", "+sha.5114f85"]));
        }
        v
    };
    let pairs = pairs(0x5E4, 2000, make);
    let mut command = Command::new("node");
    command
        .arg(root().join("tests/oracles/semver_compare.js"))
        .env("SEMVER_DIR", root().join(".cache/npm-semver"));
    let truth = oracle(command, &pairs);
    for scheme in [VersionScheme::Npm, VersionScheme::Go, VersionScheme::Cargo] {
        check(scheme, &pairs, &truth);
    }
}

/// The maven-artifact jar Debian's `maven` package installs.
fn maven_artifact_jar() -> std::path::PathBuf {
    let dir = Path::new("/usr/share/maven/lib");
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e} (run scripts/deps/version.sh)"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("maven-artifact-") && n.ends_with(".jar"))
        })
        .expect("maven-artifact jar in /usr/share/maven/lib (run scripts/deps/version.sh)")
}

#[test]
fn maven_matches_comparable_version() {
    let make = |rng: &mut Rng| {
        let mut v = dotted(rng, 4);
        for _ in 0..rng.below(4) {
            v.push_str(rng.pick(&["-", ".", "", "-", "."]));
            v.push_str(rng.pick(&[
                "alpha",
                "a",
                "b",
                "beta",
                "m",
                "milestone",
                "rc",
                "cr",
                "RC",
                "snapshot",
                "SNAPSHOT",
                "ga",
                "final",
                "release",
                "sp",
                "foo",
                "xyz",
                "0",
                "1",
                "2",
                "10",
                "01",
                "",
                "Final",
                "jre",
                "android",
                "M2",
                "a1",
                "1a",
            ]));
        }
        v
    };
    let pairs = pairs(0x3A7E, 3000, make);
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(maven_artifact_jar())
        .arg(root().join("tests/oracles/MavenCompare.java"));
    let truth = oracle(command, &pairs);
    check(VersionScheme::Maven, &pairs, &truth);
}

#[test]
fn rubygems_matches_gem_version() {
    let make = |rng: &mut Rng| {
        let mut v = dotted(rng, 4);
        for _ in 0..rng.below(3) {
            v.push_str(rng.pick(&[".", "-", ""]));
            v.push_str(rng.pick(&[
                "a", "b", "pre", "rc", "beta", "alpha", "0", "1", "2", "10", "A", "Z", "x1", "1x",
            ]));
        }
        if rng.chance(5) {
            v.push_str(rng.pick(&[" ", "..1", "-", "_1"]));
        }
        v
    };
    let pairs = pairs(0x6E3, 3000, make);
    let mut command = Command::new("ruby");
    command.arg(root().join("tests/oracles/gem_compare.rb"));
    let truth = oracle(command, &pairs);
    check(VersionScheme::RubyGems, &pairs, &truth);
    // Where RubyGems refuses a version, so do we.
    for ((a, b), want) in pairs.iter().zip(&truth) {
        if want.is_none() {
            assert!(
                compare(VersionScheme::RubyGems, a, b).is_err(),
                "{a:?} {b:?}"
            );
        }
    }
}

#[test]
fn packagist_matches_php_version_compare() {
    let make = |rng: &mut Rng| {
        let mut v = String::new();
        if rng.chance(20) {
            v.push_str(rng.pick(&["v", "V"]));
        }
        v.push_str(&dotted(rng, 4));
        for _ in 0..rng.below(3) {
            v.push_str(rng.pick(&["-", ".", "_", "+", "", ".."]));
            v.push_str(rng.pick(&[
                "dev", "alpha", "a", "beta", "b", "RC", "rc", "pl", "p", "patch", "foo", "stable",
                "1", "2", "10", "0",
            ]));
        }
        v
    };
    let pairs = pairs(0xC0DE, 3000, make);
    let mut command = Command::new("php");
    command.arg(root().join("tests/oracles/php_compare.php"));
    let truth = oracle(command, &pairs);
    check(VersionScheme::Packagist, &pairs, &truth);
}
