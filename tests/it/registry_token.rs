//! Bearer-token auth against a real `docker-registry` in `auth: token`
//! mode: the registry verifies real ES256 JWTs from the test's issuer
//! (support/token_issuer.rs), whose certificate is its rootcertbundle.

use crate::support::registry::{Layer, Layout, TestRegistry, tar_layer};
use crate::support::scan_images::{OS_RELEASE, dpkg_status, names, scanner_for, test_db};
use crate::support::token_issuer::{SERVICE, TokenIssuer};
use scangate::registry::{Credentials, ImageRef, parse_docker_config};
use scangate::scan::{ScanError, Scanner};

fn push(registry: &TestRegistry, repo: &str, package: (&str, &str)) {
    let mut layout = Layout::new();
    let image = layout.image(
        &[Layer::gzip(tar_layer(&[
            ("etc/", b""),
            ("etc/os-release", OS_RELEASE),
            ("var/lib/dpkg/", b""),
            ("var/lib/dpkg/status", &dpkg_status(&[package])),
        ]))],
        "amd64",
    );
    layout.tag(&image, "v1");
    registry.push_layout(layout.path(), "v1", repo, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_from_a_real_issuer() {
    let issuer = TokenIssuer::start(&[
        (
            "pusher",
            "push-secret",
            &["private/app", "other/app"],
            &["private/app", "other/app"],
        ),
        ("alice", "wonderland", &["private/app"], &[]),
    ])
    .await;
    let registry = TestRegistry::start_with_token(&issuer, ("pusher", "push-secret"));
    push(&registry, "private/app", ("hello", "2.10-3"));
    push(&registry, "other/app", ("other", "1.0"));

    let (_db_dir, db) = test_db();
    // The realm is a loopback address: it must be allowed explicitly, like
    // any address the registry sends the client to.
    let scanner = scanner_for(&registry.address, db, |config| {
        config.registries.allow_registries = vec![issuer.address.clone()];
    });
    let image = ImageRef::parse(&format!("{}/private/app:v1", registry.address)).unwrap();
    let before = issuer.requests().len();

    // Anonymous: the issuer hands out a token with no access; the registry denies.
    let err = scanner
        .resolve(&image, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
    let anonymous = &issuer.requests()[before..];
    assert!(!anonymous.is_empty());
    assert!(anonymous.iter().all(|r| r.user.is_none()), "{anonymous:?}");

    // Credentials from a Docker config JSON are used for the token request,
    // with the repository's pull scope and the registry's service.
    let good = parse_docker_config(
        registry
            .docker_config_json("alice", "wonderland")
            .as_bytes(),
    )
    .unwrap();
    let before = issuer.requests().len();
    let digest = scanner.resolve(&image, &good).await.unwrap();
    let report = scanner.scan(&image, &digest, &good).await.unwrap();
    assert_eq!(names(&report.inventory), ["hello=2.10-3"]);
    assert_eq!(report.findings.len(), 1);
    let used = &issuer.requests()[before..];
    assert!(!used.is_empty());
    for request in used {
        assert_eq!(request.user.as_deref(), Some("alice"));
        assert_eq!(
            request.scope.as_deref(),
            Some("repository:private/app:pull")
        );
        assert_eq!(request.service.as_deref(), Some(SERVICE));
        assert_eq!(request.status, 200);
    }
    // The token is reused: a second scan of the same repository asks for none.
    let before = issuer.requests().len();
    scanner.scan(&image, &digest, &good).await.unwrap();
    assert_eq!(issuer.requests().len(), before, "token not reused");

    // Scope: alice's token for another repository grants nothing there.
    let other = ImageRef::parse(&format!("{}/other/app:v1", registry.address)).unwrap();
    let err = scanner.resolve(&other, &good).await.unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
    assert!(issuer.requests().iter().any(|r| {
        r.user.as_deref() == Some("alice")
            && r.scope.as_deref() == Some("repository:other/app:pull")
    }));

    // A wrong password: the issuer refuses; a named error that says so.
    let wrong =
        parse_docker_config(registry.docker_config_json("alice", "queen").as_bytes()).unwrap();
    let err = scanner.resolve(&image, &wrong).await.unwrap_err();
    let ScanError::Unauthorized(message) = &err else {
        panic!("expected Unauthorized, got {err:?}");
    };
    assert!(message.contains("token server"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("username and password"), "{message}");
    let err = scanner.scan(&image, &digest, &wrong).await.unwrap_err();
    assert!(matches!(err, ScanError::Unauthorized(_)), "{err:?}");
}

/// `docker login` to a registry with an OAuth2 token server keeps an
/// `identitytoken`: a refresh token, spent at the token server with the
/// refresh-token grant (a POSTed form), never sent to the registry itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_token_is_exchanged_at_the_token_server() {
    let issuer = TokenIssuer::start(&[
        ("alice", "wonderland", &["private/app"], &[]),
        ("pusher", "push-secret", &["private/app"], &["private/app"]),
    ])
    .await;
    let registry = TestRegistry::start_with_token(&issuer, ("pusher", "push-secret"));
    push(&registry, "private/app", ("hello", "2.10-3"));
    let (_db_dir, db) = test_db();
    let scanner = scanner_for(&registry.address, db, |config| {
        config.registries.allow_registries = vec![issuer.address.clone()];
    });
    let image = ImageRef::parse(&format!("{}/private/app:v1", registry.address)).unwrap();
    let config = |token: &str| {
        parse_docker_config(
            format!(
                r#"{{"auths":{{"{}":{{"auth":"","identitytoken":"{token}"}}}}}}"#,
                registry.address
            )
            .as_bytes(),
        )
        .unwrap()
    };

    let good = config(&issuer.refresh_token_for("alice"));
    let before = issuer.requests().len();
    let digest = scanner.resolve(&image, &good).await.unwrap();
    let report = scanner.scan(&image, &digest, &good).await.unwrap();
    assert_eq!(names(&report.inventory), ["hello=2.10-3"]);
    let used = &issuer.requests()[before..];
    assert!(!used.is_empty());
    for request in used {
        assert_eq!(request.grant, "refresh_token", "{request:?}");
        assert_eq!(request.user.as_deref(), Some("alice"));
        assert_eq!(
            request.scope.as_deref(),
            Some("repository:private/app:pull")
        );
        assert_eq!(request.service.as_deref(), Some(SERVICE));
        assert_eq!(request.status, 200);
    }

    // A token the server does not know: refused, and the message says
    // which credential to renew.
    let stale = config("refresh-nobody");
    let err = scanner.resolve(&image, &stale).await.unwrap_err();
    let ScanError::Unauthorized(message) = &err else {
        panic!("expected Unauthorized, got {err:?}");
    };
    assert!(message.contains("identity token"), "{message}");
    assert!(message.contains("401"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realm_on_an_internal_address_is_refused() {
    let issuer =
        TokenIssuer::start(&[("pusher", "push-secret", &["private/app"], &["private/app"])]).await;
    let registry = TestRegistry::start_with_token(&issuer, ("pusher", "push-secret"));
    let (_db_dir, db) = test_db();
    // The registry is allowed (insecure), its realm on another loopback port is not.
    let scanner = scanner_for(&registry.address, db, |_| {});
    let image = ImageRef::parse(&format!("{}/private/app:v1", registry.address)).unwrap();
    let before = issuer.requests().len();
    let err = scanner
        .resolve(&image, &Credentials::anonymous())
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("loopback"), "{err}");
    assert_eq!(issuer.requests().len(), before, "the realm was contacted");
}
