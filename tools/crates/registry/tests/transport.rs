//! The registry client against small in-process servers: token renewal, the https→http
//! fallback for loopback registries, and which hosts see credentials.

mod server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use sematic_oci_core::reference::Reference;
use sematic_oci_core::Digest;
use sematic_registry::credentials::CredentialStore;
use sematic_registry::Client;
use server::{Reply, Request, Server};

const BASIC: &str = "Basic dXNlcjpwYXNz"; // user:pass

/// A client whose only credentials are user:pass for `registry`.
fn client_with_credentials(registry: &str) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(
        &file,
        format!(r#"{{"auths": {{"{registry}": {{"auth": "dXNlcjpwYXNz"}}}}}}"#),
    )
    .unwrap();
    let client = Client::builder("test")
        .credentials(CredentialStore::with_files(vec![file]))
        .build()
        .unwrap();
    (dir, client)
}

fn reference(server: &Server, repository: &str) -> Reference {
    Reference::parse(&format!("{}/{repository}", server.host())).unwrap()
}

#[test]
fn an_expired_token_is_renewed_once_and_the_request_repeated() {
    let port = Arc::new(OnceLock::new());
    let issued = Arc::new(AtomicUsize::new(0));
    let uses_of_first = Arc::new(AtomicUsize::new(0));
    let server = {
        let (port, issued, uses_of_first) = (port.clone(), issued.clone(), uses_of_first.clone());
        Server::start(move |request: &Request| {
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{}/token",service="test""#,
                port.get().unwrap()
            );
            if request.path.starts_with("/token?") {
                assert_eq!(request.header("Authorization"), Some(BASIC));
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                return Reply::new(200)
                    .body(format!(r#"{{"token": "tok-{n}", "expires_in": 300}}"#));
            }
            let valid = match request.header("Authorization") {
                // The server lets the first token expire after one use, long before the
                // 300 s it announced (clocks differ; tokens get revoked).
                Some("Bearer tok-1") => uses_of_first.fetch_add(1, Ordering::SeqCst) == 0,
                Some(token) => token.starts_with("Bearer tok-"),
                None => false,
            };
            if !valid {
                return Reply::new(401).header("WWW-Authenticate", &challenge);
            }
            Reply::new(if request.path == "/v2/" { 200 } else { 404 })
        })
    };
    port.set(server.port()).unwrap();
    let (_dir, client) = client_with_credentials(&server.host());
    let image = reference(&server, "app/x");
    let registry = client.registry(&image).unwrap();
    let digest = Digest::of_bytes(b"m");
    assert!(!client.manifest_exists(&registry, "app/x", &digest).unwrap());
    assert!(!client.manifest_exists(&registry, "app/x", &digest).unwrap());
    assert_eq!(issued.load(Ordering::SeqCst), 2, "one renewal, no more");
    let token_requests: Vec<Request> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/token?"))
        .collect();
    assert!(token_requests
        .iter()
        .all(|r| r.path.contains("scope=repository%3Aapp%2Fx%3Apull%2Cpush")));
}

#[test]
fn a_loopback_registry_without_tls_is_reached_over_plain_http() {
    let server = Server::start(|request: &Request| {
        Reply::new(if request.path == "/v2/" { 200 } else { 404 })
    });
    let client = Client::builder("test")
        .credentials(CredentialStore::with_files(Vec::new()))
        .build()
        .unwrap();
    let registry = client.registry(&reference(&server, "app/x")).unwrap();
    assert!(!client
        .manifest_exists(&registry, "app/x", &Digest::of_bytes(b"m"))
        .unwrap());
    let requests = server.requests();
    assert!(requests[0].tls_handshake, "https is tried first");
    let plain: Vec<&str> = requests[1..].iter().map(|r| r.path.as_str()).collect();
    assert_eq!(plain.len(), 2, "{plain:?}");
    assert_eq!(plain[0], "/v2/");
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    // Another host name for the same machine, and another port of the very same host.
    for storage_host in ["localhost", "127.0.0.1"] {
        redirected_read_leaves_credentials_behind(storage_host);
    }
}

fn redirected_read_leaves_credentials_behind(storage_host: &'static str) {
    let blob = b"{\"config\": true}".to_vec();
    let digest = Digest::of_bytes(&blob);
    let storage = {
        let blob = blob.clone();
        Server::start(move |_: &Request| Reply::new(200).body(blob.clone()))
    };
    let storage_port = storage.port();
    let registry_server = Server::start(move |request: &Request| {
        if request.header("Authorization") != Some(BASIC) {
            return Reply::new(401).header("WWW-Authenticate", r#"Basic realm="test""#);
        }
        if request.path.contains("/blobs/") {
            let location = format!("http://{storage_host}:{storage_port}{}", request.path);
            return Reply::new(307).header("Location", &location);
        }
        Reply::new(200)
    });
    let (_dir, client) = client_with_credentials(&registry_server.host());
    let registry = client
        .registry(&reference(&registry_server, "app/x"))
        .unwrap();
    let fetched = client
        .fetch_small_blob(&registry, "app/x", &digest, blob.len() as u64)
        .unwrap();
    assert_eq!(fetched, blob);
    let blob_requests: Vec<Request> = registry_server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/blobs/"))
        .collect();
    assert!(blob_requests
        .iter()
        .any(|r| r.header("Authorization") == Some(BASIC)));
    let stored = storage.requests();
    assert_eq!(stored.len(), 1, "{storage_host}");
    assert_eq!(stored[0].header("Authorization"), None, "{storage_host}");
}

#[test]
fn a_refusal_after_a_redirect_to_another_origin_names_the_redirect_not_the_credentials() {
    let storage = Server::start(|_: &Request| {
        Reply::new(401).header("WWW-Authenticate", r#"Basic realm="storage""#)
    });
    let storage_host = storage.host();
    let registry_server = Server::start(move |request: &Request| {
        if request.header("Authorization") != Some(BASIC) {
            return Reply::new(401).header("WWW-Authenticate", r#"Basic realm="test""#);
        }
        if request.path.contains("/blobs/") {
            let location = format!("http://{storage_host}{}", request.path);
            return Reply::new(307).header("Location", &location);
        }
        Reply::new(200)
    });
    let (_dir, client) = client_with_credentials(&registry_server.host());
    let registry = client
        .registry(&reference(&registry_server, "app/x"))
        .unwrap();
    let err = client
        .fetch_small_blob(&registry, "app/x", &Digest::of_bytes(b"x"), 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&format!(
            "HTTP 401 Unauthorized from {}, where registry {} redirected the request: credentials are never sent to another origin, so that host must authorize the request by itself (a signed URL)",
            storage.host(),
            registry_server.host()
        )),
        "{err}"
    );
    assert!(!err.contains("config.json"), "{err}");
}
