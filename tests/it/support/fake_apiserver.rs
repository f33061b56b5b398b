//! An in-process fake Kubernetes API server (axum on a loopback port) that
//! implements the real paths and JSON of the calls scangate makes: get,
//! list, watch (with bookmarks, resourceVersion and 410 Gone), create,
//! replace, merge/apply patch, status updates and delete, for any resource
//! under `/api/v1` or `/apis/<group>/<version>`. State survives `restart`,
//! which rebinds the same port, so watches can be tested across restarts.
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// `(api prefix, plural, namespace or "", name)`.
type Key = (String, String, String, String);

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    key: Key,
    kind: &'static str,
    object: Value,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
    /// Watches from a resourceVersion below this get 410 Gone.
    oldest_watchable: u64,
    requests: Vec<String>,
}

struct State {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Change>,
    bookmark_interval: Duration,
}

pub struct FakeApiServer {
    state: Arc<State>,
    port: u16,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    pub async fn start() -> FakeApiServer {
        let (changes, _) = broadcast::channel(1024);
        let state = Arc::new(State {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: Vec::new(),
                oldest_watchable: 0,
                requests: Vec::new(),
            }),
            changes,
            bookmark_interval: Duration::from_millis(500),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (shutdown, _) = watch::channel(false);
        let mut server = FakeApiServer {
            state,
            port,
            shutdown,
            server: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (shutdown, signal) = watch::channel(false);
        self.shutdown = shutdown;
        let state = self.state.clone();
        let router = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                let signal = signal.clone();
                async move { handle(state, signal, method, uri, headers, body).await }
            },
        );
        let mut stop = self.shutdown.subscribe();
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        }));
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A real `kube::Client` talking to this server over HTTP.
    pub fn client(&self) -> kube::Client {
        // Both rustls backends are compiled in, so one must be chosen; an
        // error only means another test chose already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let config = kube::Config::new(self.url().parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// Stops serving: open watches end, new connections are refused.
    pub async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Serves again on the same port with the same objects.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }

    /// Forgets the change history: watches from any earlier
    /// resourceVersion now get 410 Gone and must list again.
    pub fn compact(&self) {
        let mut inner = self.state.inner.lock().unwrap();
        inner.history.clear();
        inner.oldest_watchable = inner.rv;
    }

    /// Stores an object directly (as if another client had written it).
    pub fn put(&self, collection: &str, object: Value) {
        let path = parse_path(collection).unwrap();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let key = (path.prefix, path.plural, path.namespace, name);
        let mut inner = self.state.inner.lock().unwrap();
        let kind = if inner.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        store(&self.state, &mut inner, key, object, kind);
    }

    pub fn delete(&self, collection: &str, name: &str) {
        let path = parse_path(collection).unwrap();
        let key = (path.prefix, path.plural, path.namespace, name.to_string());
        let mut inner = self.state.inner.lock().unwrap();
        remove(&self.state, &mut inner, &key);
    }

    /// Objects of a collection (namespace "" = all namespaces).
    pub fn objects(&self, collection: &str) -> Vec<Value> {
        let path = parse_path(collection).unwrap();
        let inner = self.state.inner.lock().unwrap();
        inner
            .objects
            .iter()
            .filter(|(k, _)| matches(k, &path))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `METHOD path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.inner.lock().unwrap().requests.clone()
    }
}

struct ApiPath {
    prefix: String,
    plural: String,
    namespace: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<ApiPath> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => (format!("api/{version}"), rest),
        ["apis", group, version, rest @ ..] => (format!("apis/{group}/{version}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
        _ => (String::new(), rest),
    };
    let (plural, rest) = rest.split_first()?;
    Some(ApiPath {
        prefix,
        plural: plural.to_string(),
        namespace,
        name: rest.first().map(|s| s.to_string()),
        subresource: rest.get(1).map(|s| s.to_string()),
    })
}

fn matches(key: &Key, path: &ApiPath) -> bool {
    key.0 == path.prefix
        && key.1 == path.plural
        && (path.namespace.is_empty() || key.2 == path.namespace)
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "namespaces" => "Namespace",
        "secrets" => "Secret",
        "serviceaccounts" => "ServiceAccount",
        "pods" => "Pod",
        "events" => "Event",
        "leases" => "Lease",
        "clusterscanpolicies" => "ClusterScanPolicy",
        "scanexceptions" => "ScanException",
        "imagescanreports" => "ImageScanReport",
        _ => "Unknown",
    }
}

fn api_version(prefix: &str) -> String {
    prefix
        .strip_prefix("apis/")
        .or_else(|| prefix.strip_prefix("api/"))
        .unwrap_or(prefix)
        .to_string()
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// Stamps metadata and records the change (caller holds the lock).
fn store(
    state: &State,
    inner: &mut Inner,
    key: Key,
    mut object: Value,
    kind: &'static str,
) -> Value {
    inner.rv += 1;
    let rv = inner.rv;
    let previous = inner.objects.get(&key).cloned();
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    let meta = &mut object["metadata"];
    meta["name"] = json!(key.3);
    if !key.2.is_empty() {
        meta["namespace"] = json!(key.2);
    }
    meta["resourceVersion"] = json!(rv.to_string());
    let created = previous
        .as_ref()
        .map(|p| p["metadata"]["creationTimestamp"].clone())
        .unwrap_or_else(|| json!("2026-01-01T00:00:00Z"));
    meta["creationTimestamp"] = created;
    let uid = previous
        .as_ref()
        .map(|p| p["metadata"]["uid"].clone())
        .unwrap_or_else(|| json!(format!("uid-{rv}")));
    meta["uid"] = uid;
    object["kind"] = json!(kind_of(&key.1));
    object["apiVersion"] = json!(api_version(&key.0));
    inner.objects.insert(key.clone(), object.clone());
    let change = Change {
        rv,
        key,
        kind,
        object: object.clone(),
    };
    inner.history.push(change.clone());
    let _ = state.changes.send(change);
    object
}

fn remove(state: &State, inner: &mut Inner, key: &Key) -> Option<Value> {
    let mut object = inner.objects.remove(key)?;
    inner.rv += 1;
    object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
    let change = Change {
        rv: inner.rv,
        key: key.clone(),
        kind: "DELETED",
        object: object.clone(),
    };
    inner.history.push(change.clone());
    let _ = state.changes.send(change);
    Some(object)
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (k, v) in fields {
                if v.is_null() {
                    if let Some(map) = target.as_object_mut() {
                        map.remove(k);
                    }
                } else {
                    merge(&mut target[k], v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

async fn handle(
    state: Arc<State>,
    shutdown: watch::Receiver<bool>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    state
        .inner
        .lock()
        .unwrap()
        .requests
        .push(format!("{method} {uri}"));
    let Some(path) = parse_path(uri.path()) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body).or_else(|_| serde_yaml::from_slice(&body)) {
            Ok(v) => v,
            Err(e) => return status(400, "BadRequest", &e.to_string()),
        }
    };
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    match (method, path.name.clone()) {
        (Method::GET, None) if watching => watch_response(state, shutdown, path, &query),
        (Method::GET, None) => list(&state, &path),
        (Method::GET, Some(name)) => get(&state, &path, &name),
        (Method::POST, None) => create(&state, &path, body),
        (Method::PUT, Some(name)) => replace(&state, &path, &name, body),
        (Method::PATCH, Some(name)) => {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            patch(&state, &path, &name, body, content_type)
        }
        (Method::DELETE, Some(name)) => {
            let key = (path.prefix, path.plural, path.namespace, name.clone());
            let mut inner = state.inner.lock().unwrap();
            match remove(&state, &mut inner, &key) {
                Some(object) => ok(StatusCode::OK, &object),
                None => status(404, "NotFound", &format!("{name} not found")),
            }
        }
        _ => status(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn list(state: &State, path: &ApiPath) -> Response {
    let inner = state.inner.lock().unwrap();
    let items: Vec<Value> = inner
        .objects
        .iter()
        .filter(|(k, _)| matches(k, path))
        .map(|(_, v)| v.clone())
        .collect();
    let body = json!({"kind": format!("{}List", kind_of(&path.plural)),
        "apiVersion": api_version(&path.prefix),
        "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items});
    ok(StatusCode::OK, &body)
}

fn get(state: &State, path: &ApiPath, name: &str) -> Response {
    let key = (
        path.prefix.clone(),
        path.plural.clone(),
        path.namespace.clone(),
        name.to_string(),
    );
    match state.inner.lock().unwrap().objects.get(&key) {
        Some(object) => ok(StatusCode::OK, object),
        None => status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", path.plural),
        ),
    }
}

fn create(state: &State, path: &ApiPath, body: Value) -> Response {
    let mut inner = state.inner.lock().unwrap();
    let name = match body["metadata"]["name"].as_str() {
        Some(n) => n.to_string(),
        None => match body["metadata"]["generateName"].as_str() {
            Some(prefix) => format!("{prefix}{}", inner.rv + 1),
            None => return status(422, "Invalid", "metadata.name: Required value"),
        },
    };
    let key = (
        path.prefix.clone(),
        path.plural.clone(),
        path.namespace.clone(),
        name.clone(),
    );
    if inner.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", path.plural),
        );
    }
    let object = store(state, &mut inner, key, body, "ADDED");
    ok(StatusCode::CREATED, &object)
}

fn replace(state: &State, path: &ApiPath, name: &str, mut body: Value) -> Response {
    let key = (
        path.prefix.clone(),
        path.plural.clone(),
        path.namespace.clone(),
        name.to_string(),
    );
    let mut inner = state.inner.lock().unwrap();
    let Some(current) = inner.objects.get(&key).cloned() else {
        return status(404, "NotFound", &format!("{name} not found"));
    };
    let expected = body["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string);
    if let Some(expected) = expected
        && current["metadata"]["resourceVersion"].as_str() != Some(expected.as_str())
    {
        return status(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
    }
    if path.subresource.as_deref() == Some("status") {
        let mut updated = current;
        updated["status"] = body["status"].take();
        body = updated;
    }
    let object = store(state, &mut inner, key, body, "MODIFIED");
    ok(StatusCode::OK, &object)
}

fn patch(state: &State, path: &ApiPath, name: &str, body: Value, content_type: &str) -> Response {
    let key = (
        path.prefix.clone(),
        path.plural.clone(),
        path.namespace.clone(),
        name.to_string(),
    );
    let mut inner = state.inner.lock().unwrap();
    let current = inner.objects.get(&key).cloned();
    let is_apply = content_type.starts_with("application/apply-patch");
    let supported = is_apply
        || content_type.starts_with("application/merge-patch+json")
        || content_type.starts_with("application/strategic-merge-patch+json");
    if !supported {
        return status(415, "UnsupportedMediaType", content_type);
    }
    // A resourceVersion in the patch is a precondition, as the API server
    // treats it: a write based on an older read is refused.
    if let Some(expected) = body["metadata"]["resourceVersion"].as_str()
        && current
            .as_ref()
            .is_some_and(|c| c["metadata"]["resourceVersion"].as_str() != Some(expected))
    {
        return status(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
    }
    let (mut object, kind) = match current {
        Some(object) => (object, "MODIFIED"),
        None if is_apply => (json!({}), "ADDED"),
        None => return status(404, "NotFound", &format!("{name} not found")),
    };
    if path.subresource.as_deref() == Some("status") {
        merge(&mut object["status"], &body["status"]);
    } else {
        merge(&mut object, &body);
    }
    let object = store(state, &mut inner, key, object, kind);
    ok(StatusCode::OK, &object)
}

fn watch_response(
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
    path: ApiPath,
    query: &HashMap<String, String>,
) -> Response {
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300));
    let kind = kind_of(&path.plural);
    let version = api_version(&path.prefix);

    // Subscribe and snapshot under one lock, so no change is missed.
    let (mut live, backlog, gone, mut last_rv) = {
        let inner = state.inner.lock().unwrap();
        let live = state.changes.subscribe();
        if since != 0 && since < inner.oldest_watchable {
            (live, Vec::new(), true, since)
        } else if since == 0 {
            let added = inner
                .objects
                .iter()
                .filter(|(k, _)| matches(k, &path))
                .map(|(k, v)| Change {
                    rv: inner.rv,
                    key: k.clone(),
                    kind: "ADDED",
                    object: v.clone(),
                })
                .collect();
            (live, added, false, inner.rv)
        } else {
            let missed = inner
                .history
                .iter()
                .filter(|c| c.rv > since && matches(&c.key, &path))
                .cloned()
                .collect();
            (live, missed, false, inner.rv.max(since))
        }
    };

    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let line = |v: Value| Ok(Bytes::from(format!("{v}\n")));
    tokio::spawn(async move {
        if gone {
            let error = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                "metadata": {}, "status": "Failure", "message": "too old resource version",
                "reason": "Expired", "code": 410}});
            let _ = tx.send(line(error)).await;
            return;
        }
        for change in backlog {
            if tx
                .send(line(json!({"type": change.kind, "object": change.object})))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut bookmark = tokio::time::interval(state.bookmark_interval);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let message = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = &mut deadline => return,
                _ = bookmark.tick(), if bookmarks => json!({"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": version,
                    "metadata": {"resourceVersion": last_rv.to_string()}}}),
                change = live.recv() => match change {
                    Ok(c) if c.rv > last_rv => {
                        last_rv = c.rv;
                        if !matches(&c.key, &path) {
                            continue;
                        }
                        json!({"type": c.kind, "object": c.object})
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.send(line(message)).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(rx.map(|chunk| chunk)))
        .unwrap()
}
