//! A token issuer for `docker-registry`'s `auth: token` mode: an axum
//! handler on a loopback port that checks basic credentials and answers with
//! a real ES256-signed JWT. The signing key's self-signed certificate is
//! the registry's `rootcertbundle`, and every token carries it in its `x5c`
//! header, so the registry verifies the chain and the signature for real.
//!
//! Grants follow a small table: `user → repositories it may pull`. Anonymous
//! requests get a token with no access (as Docker Hub does for private
//! repositories); wrong passwords get a 401. A `POST /token` is the OAuth2
//! refresh-token grant of the distribution token spec (how Docker spends an
//! `identitytoken`): the refresh tokens [`TokenIssuer::refresh_token_for`]
//! handed out stand for their user; an unknown one gets a 401.
#![allow(dead_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub const SERVICE: &str = "scangate-test-registry";
pub const ISSUER: &str = "scangate-test-issuer";

/// One token request as the issuer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The basic-auth user, `None` when anonymous.
    pub user: Option<String>,
    pub scope: Option<String>,
    pub service: Option<String>,
    /// The answer's status.
    pub status: u16,
    /// `refresh_token` for the OAuth2 POST grant, `basic` for a GET.
    pub grant: &'static str,
}

struct Issuer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    /// user → (password, repositories with pull, repositories with push).
    users: HashMap<String, (String, Vec<String>, Vec<String>)>,
    requests: Mutex<Vec<TokenRequest>>,
    /// refresh token → user.
    refresh_tokens: Mutex<HashMap<String, String>>,
}

/// A running token issuer; stopped on drop.
pub struct TokenIssuer {
    /// `http://127.0.0.1:PORT/token`.
    pub realm: String,
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// The signing certificate, PEM.
    pub cert_pem: String,
    issuer: Arc<Issuer>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TokenIssuer {
    /// Starts an issuer; `users` is `(user, password, pullable repos, pushable repos)`.
    pub async fn start(users: &[(&str, &str, &[&str], &[&str])]) -> TokenIssuer {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("generate P-256 key");
        let mut params =
            rcgen::CertificateParams::new(vec![ISSUER.to_string()]).expect("certificate params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let cert = params
            .self_signed(&key_pair)
            .expect("self-signed certificate");
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key_pair.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .expect("ring key from PKCS#8");
        let issuer = Arc::new(Issuer {
            key,
            cert_der: cert.der().to_vec(),
            users: users
                .iter()
                .map(|(user, password, pull, push)| {
                    (
                        user.to_string(),
                        (
                            password.to_string(),
                            pull.iter().map(|r| r.to_string()).collect(),
                            push.iter().map(|r| r.to_string()).collect(),
                        ),
                    )
                })
                .collect(),
            requests: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token).post(refresh_grant))
            .with_state(Arc::clone(&issuer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind token issuer");
        let address = listener.local_addr().expect("address").to_string();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenIssuer {
            realm: format!("http://{address}/token"),
            address,
            cert_pem: cert.pem(),
            issuer,
            task,
        }
    }

    /// The registry's `auth:` section for this issuer; writes the bundle.
    pub fn registry_auth_yaml(&self, dir: &Path) -> String {
        let bundle = dir.join("token-root.pem");
        std::fs::write(&bundle, &self.cert_pem).expect("write rootcertbundle");
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.realm,
            bundle.display()
        )
    }

    /// A refresh token standing for `user` (what a registry's OAuth2 login
    /// hands `docker login`, which keeps it as the `identitytoken`).
    pub fn refresh_token_for(&self, user: &str) -> String {
        let token = format!("refresh-{user}-{}", self.requests().len());
        if let Ok(mut tokens) = self.issuer.refresh_tokens.lock() {
            tokens.insert(token.clone(), user.to_string());
        }
        token
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.issuer
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let credentials = basic_credentials(&headers);
    let user = match &credentials {
        None => None,
        Some((user, password)) => match issuer.users.get(user) {
            Some((expected, _, _)) if expected == password => Some(user.clone()),
            _ => None,
        },
    };
    let refused = credentials.is_some() && user.is_none();
    let named = credentials.map(|(user, _)| user);
    answer(&issuer, "basic", named, user, refused, &query)
}

/// The OAuth2 refresh-token grant: a form with `grant_type=refresh_token`.
async fn refresh_grant(
    State(issuer): State<Arc<Issuer>>,
    axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    let user = (form.get("grant_type").map(String::as_str) == Some("refresh_token"))
        .then(|| form.get("refresh_token"))
        .flatten()
        .and_then(|token| issuer.refresh_tokens.lock().ok()?.get(token).cloned());
    let refused = user.is_none();
    answer(&issuer, "refresh_token", user.clone(), user, refused, &form)
}

/// A signed token for `user`'s grants on the asked scope; `refused`: a 401.
fn answer(
    issuer: &Issuer,
    grant: &'static str,
    named: Option<String>,
    user: Option<String>,
    refused: bool,
    query: &HashMap<String, String>,
) -> Response {
    let scope = query.get("scope").cloned();
    let service = query.get("service").cloned();
    let record = |status: StatusCode| {
        if let Ok(mut requests) = issuer.requests.lock() {
            requests.push(TokenRequest {
                user: named.clone(),
                scope: scope.clone(),
                service: service.clone(),
                status: status.as_u16(),
                grant,
            });
        }
    };
    if refused {
        record(StatusCode::UNAUTHORIZED);
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"details": "incorrect credentials"})),
        )
            .into_response();
    }
    let grants = user
        .as_ref()
        .and_then(|user| issuer.users.get(user))
        .map(|(_, pull, push)| (pull, push));
    // scope = repository:NAME:ACTIONS; grant the asked actions the user has.
    let mut access = Vec::new();
    if let Some(scope) = &scope
        && let Some(rest) = scope.strip_prefix("repository:")
        && let Some((name, actions)) = rest.rsplit_once(':')
        && let Some((pull, push)) = grants
    {
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|action| match *action {
                "pull" => pull.iter().any(|r| r == name),
                "push" => push.iter().any(|r| r == name),
                _ => false,
            })
            .collect();
        if !granted.is_empty() {
            access
                .push(serde_json::json!({"type": "repository", "name": name, "actions": granted}));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&issuer.cert_der)],
    });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.as_deref().unwrap_or(""),
        "aud": service.clone().unwrap_or_default(),
        "exp": now + 300,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": format!("{now}-{}", issuer.requests.lock().map(|r| r.len()).unwrap_or(0)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let Ok(signature) = issuer
        .key
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
    else {
        record(StatusCode::INTERNAL_SERVER_ERROR);
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let jwt = format!("{signing_input}.{}", b64url(signature.as_ref()));
    record(StatusCode::OK);
    axum::Json(serde_json::json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": 300,
    }))
    .into_response()
}
