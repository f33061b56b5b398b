//! The registry guard at connect time: a real `docker-registry` whose
//! storage `redirect` middleware sends blob downloads elsewhere (as
//! registries backed by object storage do). A redirect to a metadata or
//! loopback address, or to a name that resolves to loopback, is refused
//! before any connection; an explicitly allowed storage host is followed.

use crate::support::registry::{Layer, Layout, TestRegistry, tar_layer};
use crate::support::scan_images::{OS_RELEASE, dpkg_status, names, scanner_for, test_db};
use scangate::registry::{Credentials, ImageRef};
use scangate::scan::{ScanError, Scanner};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A stand-in for object storage: serves files under `root` by path and
/// records every request it gets.
struct Storage {
    address: String,
    hits: Arc<Mutex<Vec<String>>>,
    root: Arc<Mutex<PathBuf>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn storage() -> Storage {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let root = Arc::new(Mutex::new(PathBuf::new()));
    let recorded = Arc::clone(&hits);
    let served = Arc::clone(&root);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let root = served.lock().map(|r| r.clone()).unwrap_or_default();
        let recorded = Arc::clone(&recorded);
        async move {
            if let Ok(mut hits) = recorded.lock() {
                hits.push(uri.path().to_string());
            }
            let relative = uri.path().trim_start_matches('/');
            if relative.split('/').any(|part| part == "..") {
                return Err(axum::http::StatusCode::BAD_REQUEST);
            }
            std::fs::read(root.join(relative)).map_err(|_| axum::http::StatusCode::NOT_FOUND)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Storage {
        address,
        hits,
        root,
        task,
    }
}

/// A registry redirecting blob GETs to `baseurl` + the storage path.
fn redirecting_registry(baseurl: &str) -> TestRegistry {
    let registry = TestRegistry::start_with_extra(&format!(
        "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {baseurl}\n"
    ));
    let mut layout = Layout::new();
    let image = layout.image(
        &[Layer::gzip(tar_layer(&[
            ("etc/", b""),
            ("etc/os-release", OS_RELEASE),
            ("var/lib/dpkg/", b""),
            ("var/lib/dpkg/status", &dpkg_status(&[("hello", "2.10-3")])),
        ]))],
        "amd64",
    );
    layout.tag(&image, "v1");
    registry.push_layout(layout.path(), "v1", "team/app", false);
    registry
}

async fn scan(
    registry: &TestRegistry,
    allow: Vec<String>,
) -> Result<scangate::model::ScanReport, ScanError> {
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |config| {
        config.registries.allow_registries = allow;
    });
    let image = ImageRef::parse(&format!("{}/team/app:v1", registry.address)).unwrap();
    let creds = Credentials::anonymous();
    let digest = scanner.resolve(&image, &creds).await?;
    scanner.scan(&image, &digest, &creds).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let registry = redirecting_registry("http://169.254.169.254/");
    let err = scan(&registry, vec![]).await.unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("169.254.169.254"), "{err}");
    assert!(err.to_string().contains("cloud metadata"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_loopback_are_refused_unless_allowed() {
    // 1. An IP literal: refused by the redirect policy, nothing contacted.
    let store = storage().await;
    let registry = redirecting_registry(&format!("http://{}/", store.address));
    let err = scan(&registry, vec![]).await.unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(
        store.hits.lock().unwrap().is_empty(),
        "storage was contacted"
    );

    // 2. A name resolving to loopback: the redirect policy cannot see the
    //    address, the resolver refuses it when the hop connects.
    let port = store.address.rsplit_once(':').unwrap().1;
    let registry = redirecting_registry(&format!("http://localhost:{port}/"));
    let err = scan(&registry, vec![]).await.unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("localhost"), "{err}");
    assert!(
        store.hits.lock().unwrap().is_empty(),
        "storage was contacted"
    );

    // 3. Explicitly allowed storage: the redirect is followed and the blob,
    //    served from the registry's own storage, is verified and analyzed.
    let registry = redirecting_registry(&format!("http://{}/", store.address));
    *store.root.lock().unwrap() = registry.storage.clone();
    let report = scan(&registry, vec![store.address.clone()]).await.unwrap();
    assert_eq!(names(&report.inventory), ["hello=2.10-3"]);
    assert!(
        store
            .hits
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.contains("/blobs/sha256/")),
        "{:?}",
        store.hits
    );
}
