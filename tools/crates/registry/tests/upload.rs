//! Uploads against small in-process servers: where chunks go when the session moves, what a
//! registry's report of held bytes is trusted with, and a local blob that is not what its
//! digest names.

mod server;

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sematic_oci_core::reference::Reference;
use sematic_oci_core::Digest;
use sematic_registry::credentials::CredentialStore;
use sematic_registry::progress::{Mode, Progress};
use sematic_registry::transport::RetryPolicy;
use sematic_registry::upload::{Source, Upload};
use sematic_registry::{Client, Error};
use server::{Reply, Request, Server};

const BLOB: &[u8] = b"the blob's content";

fn client(attempts: u32) -> Client {
    Client::builder("test")
        .credentials(CredentialStore::with_files(Vec::new()))
        .retry(RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        })
        .build()
        .unwrap()
}

/// Uploads `content` as the blob [`BLOB`] to `server`'s repository `app/x`.
fn upload(
    server: &Server,
    attempts: u32,
    content: &'static [u8],
    source: Source<'_>,
) -> Result<(), Error> {
    let client = client(attempts);
    let registry = client
        .registry(&Reference::parse(&format!("{}/app/x", server.host())).unwrap())
        .unwrap();
    let progress = Progress::new("test", Mode::Quiet);
    let transfer = progress.transfer("blob".to_owned(), BLOB.len() as u64);
    let digest = Digest::of_bytes(BLOB);
    let upload = Upload {
        digest: &digest,
        size: BLOB.len() as u64,
        session: None,
        transfer: &transfer,
        source,
    };
    client.upload_blob(&registry, "app/x", upload, &mut || {
        Ok(Box::new(Cursor::new(content)))
    })
}

/// A registry that refuses monolithic uploads (so the blob goes in a `PATCH`), opens sessions
/// on `session_origin` (default: its own), and answers `PATCH` number n with `patch(request, n)`.
fn chunked_registry(
    session_origin: Option<Arc<OnceLock<String>>>,
    patch: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
) -> Server {
    let patches = AtomicUsize::new(0);
    Server::start(move |request: &Request| match request.method.as_str() {
        "GET" if request.path == "/v2/" => Reply::new(200),
        "HEAD" => Reply::new(404),
        "POST" => {
            let origin = session_origin
                .as_ref()
                .and_then(|o| o.get().cloned())
                .unwrap_or_default();
            Reply::new(202).header("Location", &format!("{origin}/v2/app/x/blobs/uploads/s1"))
        }
        "PUT" if !request.path.contains("/closing") => Reply::new(413),
        "PUT" => Reply::new(201),
        "PATCH" => patch(request, patches.fetch_add(1, Ordering::SeqCst)),
        _ => Reply::new(404),
    })
}

#[test]
fn a_relative_location_is_resolved_against_the_url_that_answered() {
    // The session lives on another origin than the registry's API, which answers its PATCH
    // with a location relative to itself.
    let storage = chunked_registry(None, |_, _| {
        Reply::new(202).header("Location", "/v2/app/x/blobs/uploads/closing?s=2")
    });
    let origin = Arc::new(OnceLock::new());
    origin.set(format!("http://{}", storage.host())).unwrap();
    let api = chunked_registry(Some(origin), |_, _| Reply::new(500));
    upload(&api, 3, BLOB, Source::File("blob".as_ref())).unwrap();
    let on_api: Vec<String> = api.requests().iter().map(|r| r.method.clone()).collect();
    assert!(!on_api.contains(&"PATCH".to_owned()), "{on_api:?}");
    let on_storage: Vec<(String, String)> = storage
        .requests()
        .iter()
        .filter(|r| !r.tls_handshake)
        .map(|r| {
            (
                r.method.clone(),
                r.path.split('?').next().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        on_storage,
        [
            // The monolithic try, refused; then the chunk and the closing request.
            ("PUT".to_owned(), "/v2/app/x/blobs/uploads/s1".to_owned()),
            ("PATCH".to_owned(), "/v2/app/x/blobs/uploads/s1".to_owned()),
            (
                "PUT".to_owned(),
                "/v2/app/x/blobs/uploads/closing".to_owned()
            )
        ]
    );
}

#[test]
fn a_range_beyond_what_was_sent_is_an_impossible_range_not_a_resume_point() {
    // The registry answers the status request of the interrupted session itself.
    let server = Server::start(|request: &Request| match request.method.as_str() {
        "GET" if request.path == "/v2/" => Reply::new(200),
        "GET" => Reply::new(204).header("Range", "0-18446744073709551615"),
        "HEAD" => Reply::new(404),
        "POST" => Reply::new(202).header("Location", "/v2/app/x/blobs/uploads/s1"),
        "PUT" => Reply::new(413),
        "PATCH" => Reply::new(500),
        _ => Reply::new(404),
    });
    let err = upload(&server, 3, BLOB, Source::File("blob".as_ref())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "giving up after 3 attempts: the registry sent an impossible Range \"0-18446744073709551615\" for an upload it was sent {} bytes of; starting a new upload",
            BLOB.len()
        )
    );
}

#[test]
fn a_local_blob_that_is_not_its_digest_fails_once_naming_what_it_hashes_to() {
    let server = chunked_registry(None, |_, _| Reply::new(202));
    let tampered: &[u8] = b"the blob's c0ntent";
    let err = upload(
        &server,
        8,
        tampered,
        Source::File("/l/blobs/sha256/ab".as_ref()),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the local blob /l/blobs/sha256/ab hashes to {}, not {}",
            Digest::of_bytes(tampered),
            Digest::of_bytes(BLOB)
        )
    );
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "one attempt");
    // The registry never received the whole blob: the last bytes were held back.
    let put = server.requests().into_iter().find(|r| r.method == "PUT");
    assert!(put.is_none_or(|put| put.body.len() < BLOB.len()));
}
