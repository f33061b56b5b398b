//! The README's first command for real: `scangate serve --dev` (the built
//! binary, the real scanner, the bundled sample images and database), asked
//! with the bundled AdmissionReviews over TLS verified against the dev CA.
//! Also `scangate scan` of the same image from the command line.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn serve_dev_allows_denies_and_audits_the_bundled_examples() {
    let dir = tempfile::tempdir().unwrap();
    // The dev CA is written under .cache/dev-tls of the working directory.
    let work = dir.path();
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("examples"))
        .arg(work)
        .status()
        .unwrap();
    assert!(status.success());
    let (port, metrics_port) = (free_port(), free_port());
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_scangate"))
            .args(["serve", "--dev", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--metrics-listen")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .current_dir(work)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ca_path = work.join(".cache/dev-tls/ca.crt");
    let base = format!("https://localhost:{port}");
    let mut client = None;
    for _ in 0..200 {
        if let Ok(pem) = std::fs::read(&ca_path) {
            let ca = reqwest::Certificate::from_pem(&pem).unwrap();
            let c = reqwest::Client::builder()
                .tls_certs_only([ca])
                .build()
                .unwrap();
            if c.get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                client = Some(c);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = client.expect("serve --dev became ready within 20 s");
    let review =
        |name: &str| std::fs::read(work.join(format!("examples/reviews/{name}.json"))).unwrap();
    let mut responses = Vec::new();
    for name in ["allowed", "denied", "audited"] {
        let body: Value = client
            .post(format!("{base}/validate"))
            .header("content-type", "application/json")
            .body(review(name))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        responses.push(body["response"].clone());
    }
    let [allowed, denied, audited] = &responses[..] else {
        unreachable!()
    };
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert!(allowed.get("warnings").is_none(), "{allowed}");

    assert_eq!(denied["allowed"], false, "{denied}");
    assert_eq!(denied["status"]["code"], 403);
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("demo.scangate.dev/payments-api:1.4.2"),
        "{message}"
    );
    assert!(
        message.contains("78 HIGH"),
        "80 stdlib findings less 2 excepted: {message}"
    );
    assert!(
        message.contains("GO-2023-1751 (HIGH) in stdlib 1.19.8, fixed in 1.19.9"),
        "{message}"
    );

    assert_eq!(audited["allowed"], true, "{audited}");
    let warnings = audited["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("audit-sandbox"));
    assert!(audited["auditAnnotations"]["violations"].as_str().is_some());
}

#[test]
fn scan_judges_the_same_image_from_the_command_line() {
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_scangate"))
            .args([
                "scan",
                "oci:examples/images/payments-api",
                "--db",
                "examples/db",
            ])
            .args(["--policy", "examples/policies/baseline.yaml"])
            .args(["--policy", "examples/policies/exceptions.yaml"])
            .args(["--as", "demo.scangate.dev/payments-api:1.4.2"])
            .args([
                "--namespace",
                "shop",
                "--exit-code",
                "3",
                "--format",
                format,
            ])
            .current_dir(root())
            .output()
            .unwrap()
    };
    let json = run("json");
    assert_eq!(
        json.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 80);
    assert_eq!(doc["packages"][0]["name"], "stdlib");
    let verdict = &doc["verdict"];
    assert_eq!(verdict["passed"], false);
    assert_eq!(verdict["policies"], serde_json::json!(["enforce-high"]));
    assert_eq!(verdict["violations"].as_array().unwrap().len(), 78);
    let excepted: Vec<&str> = verdict["excepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(excepted, ["GO-2023-2185", "GO-2023-2186"]);
    assert_eq!(
        verdict["excepted"][0]["exception"],
        "scangate/payments-api-windows-paths"
    );

    for format in ["sarif", "cyclonedx"] {
        let out = run(format);
        assert_eq!(out.status.code(), Some(3));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let n = match format {
            "sarif" => doc["runs"][0]["results"].as_array().unwrap().len(),
            _ => doc["vulnerabilities"].as_array().unwrap().len(),
        };
        assert_eq!(n, 80, "{format}");
    }
    let table = run("table");
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("Policy enforce-high: FAILED"), "{text}");
}
