//! A real registry for tests: Debian's `docker-registry` (CNCF distribution)
//! on a free loopback port with a temporary config, plain or with htpasswd
//! auth; stopped on drop. Plus helpers to build OCI image layouts from
//! in-memory layers and push them with `skopeo`.
//!
//! Use from a test file: `#[path = "support/registry.rs"] mod registry_support;`
#![allow(dead_code)]

use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry`.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// Storage root (blobs under `docker/registry/v2/blobs/sha256/..`).
    pub storage: PathBuf,
    /// `(user, password)` when started with auth.
    pub credentials: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} not found on PATH: run scripts/deps/registry.sh (apt-get install docker-registry skopeo apache2-utils)")
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl TestRegistry {
    /// Anonymous pulls and pushes.
    pub fn start() -> TestRegistry {
        Self::start_with(None)
    }

    /// htpasswd (bcrypt) basic auth for `user:password`.
    pub fn start_with_auth(user: &str, password: &str) -> TestRegistry {
        Self::start_with(Some((user.to_string(), password.to_string())))
    }

    /// `auth: token` with `issuer` as the token service; `pusher` is the
    /// issuer's user that may push (used by [`TestRegistry::push_layout`]).
    pub fn start_with_token(
        issuer: &super::token_issuer::TokenIssuer,
        pusher: (&str, &str),
    ) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = issuer.registry_auth_yaml(dir.path());
        Self::start_in(
            dir,
            Some((pusher.0.to_string(), pusher.1.to_string())),
            auth,
        )
    }

    /// Anonymous, with `extra` appended to the config (top-level YAML keys).
    pub fn start_with_extra(extra: &str) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, None, extra.to_string())
    }

    fn start_with(credentials: Option<(String, String)>) -> TestRegistry {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut auth = String::new();
        if let Some((user, password)) = &credentials {
            let output = Command::new(tool("htpasswd"))
                .args(["-Bbn", user, password])
                .output()
                .expect("run htpasswd");
            assert!(output.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &output.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: scangate-test\n    path: {}\n",
                file.display()
            );
        }
        Self::start_in(dir, credentials, auth)
    }

    fn start_in(
        dir: tempfile::TempDir,
        credentials: Option<(String, String)>,
        auth: String,
    ) -> TestRegistry {
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        for _attempt in 0..5 {
            let port = free_port();
            let address = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n{auth}",
                    storage.display()
                ),
            )
            .expect("write config");
            let child = Command::new(tool("docker-registry"))
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry");
            let mut registry = TestRegistry {
                child,
                address: address.clone(),
                storage: storage.clone(),
                credentials: credentials.clone(),
                _dir: tempfile::tempdir().expect("temp dir"),
            };
            if registry.wait_ready() {
                registry._dir = dir;
                return registry;
            }
            // Port taken between probe and bind, or a slow start: retry.
        }
        panic!("docker-registry did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut stream) = std::net::TcpStream::connect(&self.address) {
                let _ = stream.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut reply = [0u8; 12];
                if std::io::Read::read(&mut stream, &mut reply).unwrap_or(0) >= 12 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A `dockerconfigjson` document for this registry's credentials.
    /// Freezes the registry process (`SIGSTOP`): the kernel still accepts
    /// its connections, and nothing answers.
    pub fn pause(&self) {
        assert!(self.signal(libc::SIGSTOP), "SIGSTOP the registry");
    }

    /// Lets a paused registry run again (`SIGCONT`).
    pub fn resume(&self) {
        assert!(self.signal(libc::SIGCONT), "SIGCONT the registry");
    }

    fn signal(&self, signal: libc::c_int) -> bool {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return false;
        };
        // SAFETY: kill(2) on our own child, which is reaped only in drop.
        unsafe { libc::kill(pid, signal) == 0 }
    }

    pub fn docker_config_json(&self, user: &str, password: &str) -> String {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.address)
    }

    /// The stored blob file for `digest`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `skopeo copy [--all] oci:LAYOUT:TAG docker://ADDRESS/REPO:TAG`.
    pub fn push_layout(&self, layout: &Path, tag: &str, repo: &str, all: bool) {
        let mut command = Command::new(tool("skopeo"));
        command.args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ]);
        if all {
            command.arg("--all");
        }
        if let Some((user, password)) = &self.credentials {
            command.arg(format!("--dest-creds={user}:{password}"));
        }
        command
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.address));
        let output = command.output().expect("run skopeo");
        assert!(
            output.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // A stopped process dies of SIGKILL too; SIGCONT is for its children.
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An uncompressed tar of `(path, contents)` regular files; a path ending in
/// `/` is a directory.
pub fn tar_layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
        }
        header.set_mtime(0);
        builder
            .append_data(&mut header, path, *data)
            .expect("append to tar");
    }
    builder.into_inner().expect("finish tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// One layer blob as stored, with the digest of its uncompressed tar.
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

impl Layer {
    pub fn tar(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: sha256(&tar),
            blob: tar,
            media_type: "application/vnd.oci.image.layer.v1.tar",
        }
    }
    pub fn gzip(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: sha256(&tar),
            blob: gzip(&tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }
    pub fn zstd(tar: Vec<u8>) -> Layer {
        Layer {
            diff_id: sha256(&tar),
            blob: zstd(&tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
    pub fn digest(&self) -> String {
        sha256(&self.blob)
    }
}

/// An OCI image layout directory being written.
pub struct Layout {
    pub dir: tempfile::TempDir,
    entries: Vec<serde_json::Value>,
}

impl Default for Layout {
    fn default() -> Self {
        Self::new()
    }
}

impl Layout {
    pub fn new() -> Layout {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).expect("blobs dir");
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("oci-layout");
        Layout {
            dir,
            entries: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stores a blob; returns its descriptor fields (digest, size).
    pub fn put_blob(&self, bytes: &[u8]) -> (String, usize) {
        let digest = sha256(bytes);
        let path = self
            .dir
            .path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        std::fs::write(path, bytes).expect("write blob");
        (digest, bytes.len())
    }

    /// Writes an image manifest (and config) for `arch`; returns its descriptor.
    pub fn image(&self, layers: &[Layer], arch: &str) -> serde_json::Value {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "config": {}
        });
        let (config_digest, config_size) = self.put_blob(config.to_string().as_bytes());
        let layer_descriptors: Vec<serde_json::Value> = layers
            .iter()
            .map(|layer| {
                let (digest, size) = self.put_blob(&layer.blob);
                serde_json::json!({"mediaType": layer.media_type, "digest": digest, "size": size})
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": layer_descriptors
        });
        let (digest, size) = self.put_blob(manifest.to_string().as_bytes());
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": size,
            "platform": {"os": "linux", "architecture": arch}
        })
    }

    /// Writes an image index over `manifests`; returns its descriptor.
    pub fn index(&self, manifests: &[serde_json::Value]) -> serde_json::Value {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        });
        let (digest, size) = self.put_blob(index.to_string().as_bytes());
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size})
    }

    /// Names `descriptor` `tag` in index.json.
    pub fn tag(&mut self, descriptor: &serde_json::Value, tag: &str) {
        let mut entry = descriptor.clone();
        if let Some(object) = entry.as_object_mut() {
            object.remove("platform");
            object.insert(
                "annotations".into(),
                serde_json::json!({"org.opencontainers.image.ref.name": tag}),
            );
        }
        self.entries.push(entry);
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.entries});
        std::fs::write(self.dir.path().join("index.json"), index.to_string()).expect("index.json");
    }
}

impl TestRegistry {
    /// Pushes one single-platform image over the registry's HTTP API (a
    /// monolithic upload per blob, then the manifest): much faster than
    /// `skopeo` when a test needs many images. Returns the manifest digest.
    pub async fn push_http(&self, repo: &str, tag: &str, layers: &[Layer]) -> String {
        let client = reqwest::Client::new();
        let base = format!("http://{}", self.address);
        let upload = |bytes: Vec<u8>| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let digest = sha256(&bytes);
                let started = client
                    .post(format!("{base}/v2/{repo}/blobs/uploads/"))
                    .send()
                    .await
                    .expect("start upload");
                assert_eq!(started.status(), 202, "start upload");
                let location = started.headers()["location"].to_str().unwrap().to_string();
                let location = if location.starts_with("http") {
                    location
                } else {
                    format!("{base}{location}")
                };
                let separator = if location.contains('?') { '&' } else { '?' };
                let put = client
                    .put(format!("{location}{separator}digest={digest}"))
                    .header("content-type", "application/octet-stream")
                    .body(bytes.clone())
                    .send()
                    .await
                    .expect("finish upload");
                assert_eq!(put.status(), 201, "finish upload of {digest}");
                (digest, bytes.len())
            }
        };
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "config": {}
        });
        let (config_digest, config_size) = upload(config.to_string().into_bytes()).await;
        let mut descriptors = Vec::new();
        for layer in layers {
            let (digest, size) = upload(layer.blob.clone()).await;
            descriptors.push(
                serde_json::json!({"mediaType": layer.media_type, "digest": digest, "size": size}),
            );
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": descriptors
        })
        .to_string();
        let put = client
            .put(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .expect("put manifest");
        assert_eq!(put.status(), 201, "put manifest {repo}:{tag}");
        sha256(manifest.as_bytes())
    }
}
