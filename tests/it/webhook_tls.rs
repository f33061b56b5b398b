//! TLS behavior of the webhook: certificate rotation under load, protocol
//! versions, and graceful shutdown finishing in-flight reviews.

use crate::support::webhook as webhook_support;

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use webhook_support::*;

const CLEAN: &str = "demo.scangate.dev/clean:1";

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .expect("TLS info with the peer certificate")
}

fn leaf_der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// Replaces a file the way a Secret volume update does: write aside, rename.
fn replace_file(path: &std::path::Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_under_load_fails_no_request() {
    let mut h = Harness::start(Options::default()).await;
    let next = scangate::tls::generate(&[SERVICE_NAME], "next CA").unwrap();
    let url = h.url("/validate");
    let review = pod_review("u-rot", "shop", &[CLEAN]);
    // One long-lived client trusting both CAs keeps sending on its connections.
    let steady = h.client_trusting(&[&h.ca_pem, &next.ca_pem], true);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (stop, sent, url, review) = (stop.clone(), sent.clone(), url.clone(), review.clone());
        tokio::spawn(async move {
            let mut failures = vec![];
            while !stop.load(Ordering::SeqCst) {
                match steady.post(&url).json(&review).send().await {
                    Ok(r) if r.status() == 200 => {
                        let body: serde_json::Value = r.json().await.unwrap();
                        assert_eq!(body["response"], json!({"uid": "u-rot", "allowed": true}));
                    }
                    other => failures.push(format!("{other:?}")),
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
            failures
        })
    };
    while sent.load(Ordering::SeqCst) < 20 {
        tokio::task::yield_now().await;
    }
    let first = h.client_trusting(&[&h.ca_pem, &next.ca_pem], false);
    let old_cert = peer_certificate(&first.get(h.url("/healthz")).send().await.unwrap());
    assert_eq!(
        old_cert,
        leaf_der(&std::fs::read_to_string(&h.cert).unwrap())
    );

    // Rotate: the key first (cert and key mismatch for a moment: the old
    // certificate must stay in service), then the certificate.
    replace_file(&h.key, &next.key_pem);
    replace_file(&h.cert, &next.cert_pem);
    let new_leaf = leaf_der(&next.cert_pem);
    let mut seen_new = false;
    for _ in 0..600 {
        let fresh = h.client_trusting(&[&h.ca_pem, &next.ca_pem], false);
        let response = fresh.get(h.url("/healthz")).send().await.unwrap();
        if peer_certificate(&response) == new_leaf {
            seen_new = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen_new, "a new connection never saw the new certificate");
    // A client trusting only the new CA now connects; one trusting only the old one does not.
    let only_new = h.client_trusting(&[&next.ca_pem], true);
    assert_eq!(
        only_new
            .get(h.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let only_old = h.client_trusting(&[&h.ca_pem], true);
    assert!(only_old.get(h.url("/healthz")).send().await.is_err());

    let before = sent.load(Ordering::SeqCst);
    while sent.load(Ordering::SeqCst) < before + 20 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    let failures = sender.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_tls_1_1_and_offers_h2_and_http1() {
    let mut h = Harness::start(Options::default()).await;
    // rustls clients cannot even offer TLS 1.1; the server's config is the
    // check: a TLS 1.2-only client connects, HTTP/1.1 and h2 both work.
    let tls12 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(h.ca_pem.as_bytes()).unwrap()])
        .resolve(SERVICE_NAME, h.addr())
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let response = tls12.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(
        (response.status().as_u16(), response.version()),
        (200, reqwest::Version::HTTP_2)
    );
    let tls =
        scangate::tls::server_config(scangate::tls::ReloadingCert::load(&h.cert, &h.key).unwrap())
            .unwrap();
    assert_eq!(
        tls.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    // A client that does not trust the CA is refused.
    let stranger = scangate::tls::generate(&[SERVICE_NAME], "stranger").unwrap();
    assert!(
        h.client_trusting(&[&stranger.ca_pem], true)
            .get(h.url("/healthz"))
            .send()
            .await
            .is_err()
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_reviews() {
    let mut h = Harness::start(Options::default()).await;
    let client = h.client(true);
    h.scanner.release.send_replace(false);
    let in_flight = {
        let (client, url) = (client.clone(), h.url("/validate"));
        tokio::spawn(
            async move { post(&client, &url, &pod_review("u-last", "shop", &[CLEAN])).await },
        )
    };
    while h.scanner.scans.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let addr = h.addr();
    let server = h.server.take().unwrap();
    let shutdown = tokio::spawn(server.shutdown());
    // Once the listener is closed, let the scan finish.
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    h.scanner.release.send_replace(true);
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(
        (status, body["response"].clone()),
        (200, json!({"uid": "u-last", "allowed": true}))
    );
    shutdown.await.unwrap();
}
