//! `db sync` against a real local HTTP server (axum, serving files with
//! ETag / Last-Modified and answering conditional requests with 304):
//! first download, unchanged data, a corrupt zip, a changed zip, and a
//! mirror that disappears; and the refresher's swap on top of it.

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scangate::vulndb::sync::EcosystemSync;
use scangate::vulndb::{
    DbHandle, DbMetrics, DbSource, LoadOptions, SyncConfig, load_dir, refresh_once, sync_mirror,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What the mirror serves and what it saw.
#[derive(Default)]
struct Mirror {
    root: PathBuf,
    /// `If-None-Match` headers received, per request.
    if_none_match: Vec<Option<String>>,
    not_modified: usize,
}

const LAST_MODIFIED: &str = "Mon, 23 Nov 2026 07:00:00 GMT";

async fn serve_file(
    State(mirror): State<Arc<Mutex<Mirror>>>,
    UrlPath((eco, file)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut m = mirror.lock().unwrap();
    let path = m.root.join(&eco).join(&file);
    let Ok(bytes) = std::fs::read(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let sent = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    m.if_none_match.push(sent.clone());
    if sent.as_deref() == Some(etag.as_str()) {
        m.not_modified += 1;
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::LAST_MODIFIED, LAST_MODIFIED.to_string()),
        ],
        bytes,
    )
        .into_response()
}

async fn ecosystems_txt(State(mirror): State<Arc<Mutex<Mirror>>>) -> Response {
    let root = mirror.lock().unwrap().root.clone();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.join("\n").into_response()
}

/// Starts the mirror; returns its URL and the server task (abort it to
/// make the mirror disappear).
async fn start_mirror(state: Arc<Mutex<Mirror>>) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new()
        .route("/ecosystems.txt", axum::routing::get(ecosystems_txt))
        .route("/{eco}/{file}", axum::routing::get(serve_file))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/"), task)
}

fn record(id: &str, package: &str, fixed: &str) -> String {
    format!(
        r#"{{"schema_version":"1.6.0","id":"{id}","modified":"2026-11-01T00:00:00Z",
        "aliases":["CVE-2026-{n}"],"summary":"{id} summary",
        "affected":[{{"package":{{"ecosystem":"Go","name":"{package}"}},
        "ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#,
        n = id.len()
    )
}

fn write_zip(path: &Path, records: &[(&str, String)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, body) in records {
        zip.start_file(
            format!("{name}.json"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn outcome<'a>(report: &'a scangate::vulndb::SyncReport, eco: &str) -> &'a EcosystemSync {
    &report
        .ecosystems
        .iter()
        .find(|(e, _)| e == eco)
        .unwrap_or_else(|| panic!("{eco} not in the report: {report:?}"))
        .1
}

#[tokio::test]
async fn http_mirror_conditional_corrupt_changed_and_gone() {
    let served = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let zip_path = served.path().join("Go/all.zip");
    write_zip(
        &zip_path,
        &[("GO-1", record("GO-1", "example.com/a", "1.2.0"))],
    );
    let state = Arc::new(Mutex::new(Mirror {
        root: served.path().to_path_buf(),
        ..Mirror::default()
    }));
    let (url, server) = start_mirror(state.clone()).await;
    let metrics = DbMetrics::default();
    let config = SyncConfig::default();

    // First sync: downloaded (ecosystem list from ecosystems.txt), no validators sent.
    let report = sync_mirror(&url, local.path(), &config, &metrics)
        .await
        .unwrap();
    assert!(matches!(
        outcome(&report, "Go"),
        EcosystemSync::Updated { records: 1 }
    ));
    let first = load_dir(local.path(), &LoadOptions::default()).unwrap();
    assert_eq!(first.records().len(), 1);
    assert_eq!(state.lock().unwrap().if_none_match, vec![None]);

    // Second sync: the ETag is sent back and the server answers 304.
    let report = sync_mirror(&url, local.path(), &config, &metrics)
        .await
        .unwrap();
    assert!(matches!(outcome(&report, "Go"), EcosystemSync::Unchanged));
    {
        let m = state.lock().unwrap();
        assert_eq!(m.not_modified, 1);
        assert!(
            m.if_none_match[1]
                .as_deref()
                .is_some_and(|e| e.starts_with('"'))
        );
    }

    // A corrupt zip: the previous one stays, the failure is counted.
    let good_bytes = std::fs::read(local.path().join("Go/all.zip")).unwrap();
    std::fs::write(&zip_path, b"PK\x03\x04 this is not a zip").unwrap();
    let report = sync_mirror(&url, local.path(), &config, &metrics)
        .await
        .unwrap();
    assert!(
        matches!(outcome(&report, "Go"), EcosystemSync::Failed(_)),
        "{report:?}"
    );
    assert_eq!(report.failed(), 1);
    assert_eq!(metrics.sync_count("Go", "failed"), 1);
    assert_eq!(
        std::fs::read(local.path().join("Go/all.zip")).unwrap(),
        good_bytes
    );
    let kept = load_dir(local.path(), &LoadOptions::default()).unwrap();
    assert_eq!(kept.revision(), first.revision());

    // A zip whose records do not parse is rejected too.
    write_zip(&zip_path, &[("GO-X", "{not json".to_string())]);
    let report = sync_mirror(&url, local.path(), &config, &metrics)
        .await
        .unwrap();
    assert!(matches!(outcome(&report, "Go"), EcosystemSync::Failed(_)));
    assert_eq!(metrics.sync_count("Go", "failed"), 2);

    // A changed zip: downloaded, and the revision changes.
    write_zip(
        &zip_path,
        &[
            ("GO-1", record("GO-1", "example.com/a", "1.2.0")),
            ("GO-2", record("GO-2", "example.com/b", "2.0.0")),
        ],
    );
    let report = sync_mirror(&url, local.path(), &config, &metrics)
        .await
        .unwrap();
    assert!(matches!(
        outcome(&report, "Go"),
        EcosystemSync::Updated { records: 2 }
    ));
    let changed = load_dir(local.path(), &LoadOptions::default()).unwrap();
    assert_ne!(changed.revision(), first.revision());
    assert_eq!(changed.records().len(), 2);

    // The mirror disappears: failure reported, local copy intact.
    server.abort();
    let _ = server.await;
    let report = sync_mirror(
        &url,
        local.path(),
        &SyncConfig {
            ecosystems: vec!["Go".into()],
            ..SyncConfig::default()
        },
        &metrics,
    )
    .await
    .unwrap();
    assert!(matches!(outcome(&report, "Go"), EcosystemSync::Failed(_)));
    let still = load_dir(local.path(), &LoadOptions::default()).unwrap();
    assert_eq!(still.revision(), changed.revision());
    assert_eq!(metrics.sync_count("Go", "updated"), 2);
    assert_eq!(metrics.sync_count("Go", "unchanged"), 1);
}

#[tokio::test]
async fn refresher_swaps_only_on_change_and_keeps_the_old_db_on_failure() {
    let served = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let zip_path = served.path().join("Go/all.zip");
    write_zip(
        &zip_path,
        &[("GO-1", record("GO-1", "example.com/a", "1.2.0"))],
    );
    let url = url::Url::from_directory_path(served.path())
        .unwrap()
        .to_string();
    let source = DbSource::parse(&url, cache.path());
    assert!(matches!(source, DbSource::Mirror { .. }));
    let handle = DbHandle::default();
    let metrics = DbMetrics::default();
    let config = LoadOptions::default();

    assert!(
        refresh_once(&handle, &source, &config, &metrics)
            .await
            .unwrap()
    );
    let first = handle.current().unwrap();
    assert_eq!(first.records().len(), 1);
    assert!(
        !refresh_once(&handle, &source, &config, &metrics)
            .await
            .unwrap()
    );
    assert!(Arc::ptr_eq(&first, &handle.current().unwrap()));

    // Corrupt upstream: the sync fails for Go, the database in service stays.
    std::fs::write(&zip_path, b"garbage").unwrap();
    let _ = refresh_once(&handle, &source, &config, &metrics).await;
    assert_eq!(handle.current().unwrap().revision(), first.revision());
    assert_eq!(metrics.sync_count("Go", "failed"), 1);

    // Fixed upstream with new data: swapped, new revision.
    write_zip(
        &zip_path,
        &[
            ("GO-1", record("GO-1", "example.com/a", "1.2.0")),
            ("GO-2", record("GO-2", "example.com/b", "2.0.0")),
        ],
    );
    assert!(
        refresh_once(&handle, &source, &config, &metrics)
            .await
            .unwrap()
    );
    let second = handle.current().unwrap();
    assert_ne!(second.revision(), first.revision());
    assert_eq!(second.records().len(), 2);
    // A reader holding the old Arc still has a complete database.
    assert_eq!(first.records().len(), 1);
}
