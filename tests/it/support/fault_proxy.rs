//! A fault-injecting HTTP proxy in front of the real `docker-registry`.
//!
//! Each request is read, matched against the rules (path substring and
//! method), and either answered by the proxy itself (a status, a redirect,
//! silence) or forwarded to the registry on a fresh connection, whose whole
//! answer is then passed on as it is, slowly, cut, altered or reset. Every
//! answer closes its connection, so each request is seen on its own. The
//! proxy logs what it saw, with the time, so tests can check retries and
//! their spacing.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forward and pass the answer on unchanged.
    Pass,
    /// Wait `by`, then forward and pass the answer on (a slow registry).
    Delay { by: Duration },
    /// Read the request, answer nothing, keep the connection open.
    StallBeforeAnswer,
    /// Pass the headers and `after` body bytes, then nothing (connection held).
    StallMidBody { after: usize },
    /// Pass the answer `chunk` bytes at a time, one chunk every `every`.
    Trickle { chunk: usize, every: Duration },
    /// Pass the headers and `after` body bytes, then reset the connection.
    ResetMidBody { after: usize },
    /// Reset the connection without answering.
    ResetBeforeAnswer,
    /// Answer `code` with an OCI error body, and `Retry-After` if given.
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// Flip one byte in the middle of the body (same length).
    CorruptBody,
    /// Declare the whole length, send half the body, close.
    Truncate,
    /// Answer 200 with `bytes` of JSON-looking padding, its length declared
    /// or not (then the body ends when the connection closes).
    Oversize { bytes: usize, declare_length: bool },
    /// Redirect to the same URL, forever.
    RedirectLoop,
    /// Redirect to `location`.
    Redirect(String),
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Delay { .. } => "delay",
            Fault::StallBeforeAnswer => "stall-before-answer",
            Fault::StallMidBody { .. } => "stall-mid-body",
            Fault::Trickle { .. } => "trickle",
            Fault::ResetMidBody { .. } => "reset-mid-body",
            Fault::ResetBeforeAnswer => "reset-before-answer",
            Fault::Status { .. } => "status",
            Fault::CorruptBody => "corrupt-body",
            Fault::Truncate => "truncate",
            Fault::Oversize { .. } => "oversize",
            Fault::RedirectLoop => "redirect-loop",
            Fault::Redirect(_) => "redirect",
        }
    }
}

/// Applies `fault` to requests whose path contains `path` (and whose method
/// is `method`, if given), the first `times` of them or all.
#[derive(Debug, Clone)]
pub struct Rule {
    pub path: String,
    pub method: Option<&'static str>,
    pub fault: Fault,
    pub times: Option<usize>,
}

impl Rule {
    pub fn always(path: impl Into<String>, fault: Fault) -> Rule {
        Rule {
            path: path.into(),
            method: None,
            fault,
            times: None,
        }
    }

    pub fn times(path: impl Into<String>, times: usize, fault: Fault) -> Rule {
        Rule {
            path: path.into(),
            method: None,
            fault,
            times: Some(times),
        }
    }

    pub fn method(mut self, method: &'static str) -> Rule {
        self.method = Some(method);
        self
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub fault: &'static str,
}

struct State {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running proxy; it stops with the test's runtime.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`, to use as the registry in image references.
    pub address: String,
    state: Arc<State>,
}

/// Longest request head read; pulls send a few hundred bytes.
const MAX_HEAD: usize = 64 << 10;
/// How long a stalled connection is held (longer than any test).
const HOLD: Duration = Duration::from_secs(600);

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address").to_string();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let _ = handle(state, client).await;
                });
            }
        });
        FaultProxy { address, state }
    }

    pub fn add(&self, rule: Rule) {
        self.state.rules.lock().unwrap().push(rule);
    }

    /// Requests seen whose path contains `path`.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.contains(path))
            .cloned()
            .collect()
    }
}

fn pick(state: &State, method: &str, path: &str) -> Fault {
    let mut rules = state.rules.lock().unwrap();
    for rule in rules.iter_mut() {
        if !path.contains(&rule.path) || rule.method.is_some_and(|m| m != method) {
            continue;
        }
        match &mut rule.times {
            Some(0) => continue,
            Some(n) => *n -= 1,
            None => {}
        }
        return rule.fault.clone();
    }
    Fault::Pass
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

async fn handle(state: Arc<State>, mut client: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = find_head_end(&head) {
            break end;
        }
        if head.len() > MAX_HEAD {
            return Ok(());
        }
    };
    head.truncate(end);
    let text = String::from_utf8_lossy(&head).to_string();
    let mut first = text.lines().next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let fault = pick(&state, &method, &path);
    state.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        at: Instant::now(),
        fault: fault.name(),
    });
    match &fault {
        Fault::StallBeforeAnswer => {
            tokio::time::sleep(HOLD).await;
            return Ok(());
        }
        Fault::ResetBeforeAnswer => {
            reset(client);
            return Ok(());
        }
        Fault::Status { code, retry_after } => {
            let body =
                format!(r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected {code}"}}]}}"#);
            let retry = retry_after
                .as_ref()
                .map(|r| format!("Retry-After: {r}\r\n"))
                .unwrap_or_default();
            let answer = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
            return client.shutdown().await;
        }
        Fault::Oversize {
            bytes,
            declare_length,
        } => {
            let length = if *declare_length {
                format!("Content-Length: {bytes}\r\n")
            } else {
                String::new()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n{length}Connection: close\r\n\r\n"
            );
            client.write_all(head.as_bytes()).await?;
            let padding = vec![b' '; 64 << 10];
            let mut left = *bytes;
            while left > 0 {
                let piece = left.min(padding.len());
                // The client may hang up once it has seen enough.
                if client.write_all(&padding[..piece]).await.is_err() {
                    return Ok(());
                }
                left -= piece;
            }
            return client.shutdown().await;
        }
        Fault::RedirectLoop | Fault::Redirect(_) => {
            let location = match &fault {
                Fault::Redirect(location) => location.clone(),
                _ => path.clone(),
            };
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            client.write_all(answer.as_bytes()).await?;
            return client.shutdown().await;
        }
        _ => {}
    }
    if let Fault::Delay { by } = &fault {
        tokio::time::sleep(*by).await;
    }
    // Forward on a fresh connection that the registry closes after answering.
    let request = rewrite_connection(&text);
    let mut upstream = TcpStream::connect(&state.upstream).await?;
    upstream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    let split = find_head_end(&answer).unwrap_or(answer.len());
    let (answer_head, body) = answer.split_at(split);
    let answer_head = rewrite_connection(&String::from_utf8_lossy(answer_head));
    let head_bytes = answer_head.as_bytes();
    match fault {
        Fault::Pass | Fault::Delay { .. } => {
            client.write_all(head_bytes).await?;
            client.write_all(body).await?;
        }
        Fault::CorruptBody => {
            let mut body = body.to_vec();
            if !body.is_empty() {
                let middle = body.len() / 2;
                body[middle] ^= 0x55;
            }
            client.write_all(head_bytes).await?;
            client.write_all(&body).await?;
        }
        Fault::Truncate => {
            client.write_all(head_bytes).await?;
            client.write_all(&body[..body.len() / 2]).await?;
        }
        Fault::StallMidBody { after } => {
            client.write_all(head_bytes).await?;
            client.write_all(&body[..after.min(body.len())]).await?;
            client.flush().await?;
            tokio::time::sleep(HOLD).await;
            return Ok(());
        }
        Fault::ResetMidBody { after } => {
            client.write_all(head_bytes).await?;
            client.write_all(&body[..after.min(body.len())]).await?;
            client.flush().await?;
            // Let the bytes leave before the reset discards the send buffer.
            tokio::time::sleep(Duration::from_millis(50)).await;
            reset(client);
            return Ok(());
        }
        Fault::Trickle { chunk, every } => {
            client.write_all(head_bytes).await?;
            for piece in body.chunks(chunk.max(1)) {
                client.write_all(piece).await?;
                client.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        _ => unreachable!("answered above"),
    }
    client.shutdown().await
}

/// The head with `Connection: close` instead of whatever it said.
fn rewrite_connection(head: &str) -> String {
    let mut out = String::new();
    for line in head.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

/// Closes with RST instead of FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
