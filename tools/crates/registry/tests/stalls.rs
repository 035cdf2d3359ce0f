//! Registries that cannot be reached fail quickly, saying why: a host name that does not
//! resolve is tried twice, and a server that accepts connections but says nothing fails at the
//! connect deadline, naming the phase that stalled.

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sematic_oci_core::reference::Reference;
use sematic_registry::credentials::CredentialStore;
use sematic_registry::transport::{RetryPolicy, TransferLimits};
use sematic_registry::Client;

fn client(timeout: Duration) -> Client {
    Client::builder("test")
        .credentials(CredentialStore::with_files(Vec::new()))
        .limits(TransferLimits {
            timeout,
            ..TransferLimits::default()
        })
        .retry(RetryPolicy {
            attempts: 8,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        })
        .build()
        .unwrap()
}

#[test]
fn a_host_name_that_does_not_resolve_is_tried_twice() {
    let image = Reference::parse("registry.invalid/app/x").unwrap();
    let err = client(Duration::from_secs(5))
        .registry(&image)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("connecting to registry registry.invalid: giving up after 2 attempts: ")
            && err.contains("the host name registry.invalid does not resolve"),
        "{err}"
    );
}

#[test]
fn a_silent_server_fails_at_the_connect_deadline_naming_the_phase() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    // Accepts every connection and holds it open without a word.
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let holder = held.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            holder.lock().unwrap().push(stream);
        }
    });
    let started = Instant::now();
    let image = Reference::parse(&format!("{host}/app/x")).unwrap();
    let err = client(Duration::from_secs(1))
        .registry(&image)
        .err()
        .unwrap()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err,
        format!(
            "connecting to registry {host} (https: {host}: connected, but the TLS handshake got no answer within 1 s; then plain http): giving up after 2 attempts: {host}: connected, but no answer within 1 s of sending the request"
        )
    );
}
