//! `--compression estargz`: a layer and a layer assembled from pieces are eStargz blobs that
//! any gzip reader reads, with the TOC digest, the diff_id of the tar actually written and the
//! prioritized files before the landmark, the same bytes every time.

use std::fs;
use std::io::Read;
use std::path::Path;

use sematic_layer::assemble::{assemble, BlobArg};
use sematic_layer::from_manifest::Target;
use sematic_layer::stream::LayerStream;
use sematic_oci_core::archive::Owner;
use sematic_oci_core::layer_descriptor::LayerDescriptor;
use sematic_oci_core::media_type::{Compression, OCI_LAYER_GZIP};
use sha2::{Digest, Sha256};

const FILES: [(&str, &str); 2] = [("app/a.py", "a = 1\n"), ("app/main.py", "print(1)\n")];
/// The entries of a layer of FILES with app/main.py prioritized, in blob order.
const PRIORITIZED_FIRST: [&str; 5] = [
    "app/",
    "app/main.py",
    ".prefetch.landmark",
    "app/a.py",
    "stargz.index.json",
];

fn write_layer(blob: &Path, prioritized: &[String]) -> LayerDescriptor {
    let mut stream =
        LayerStream::create_prioritized(blob, Compression::Estargz, 2, prioritized).unwrap();
    stream.tar().directory(b"app", Owner::root(0o755)).unwrap();
    for (name, content) in FILES {
        let owner = Owner::root(0o644);
        let size = content.len() as u64;
        stream
            .tar()
            .file(name.as_bytes(), owner, size, content.as_bytes())
            .unwrap();
    }
    let layer = stream.finish().unwrap();
    layer.blob.commit().unwrap();
    layer.descriptor
}

/// The blob's tar entry names, after checking its descriptor against the bytes.
fn check_blob(blob: &Path, descriptor: &LayerDescriptor) -> Vec<String> {
    let bytes = fs::read(blob).unwrap();
    assert_eq!(descriptor.media_type, OCI_LAYER_GZIP);
    assert_eq!(descriptor.size, bytes.len() as u64);
    assert_eq!(
        descriptor.digest.to_string(),
        format!("sha256:{:x}", Sha256::digest(&bytes))
    );
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(descriptor.uncompressed_size, tar.len() as u64);
    assert_eq!(
        descriptor.diff_id.to_string(),
        format!("sha256:{:x}", Sha256::digest(&tar))
    );
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "stargz.index.json" {
            let mut toc = Vec::new();
            entry.read_to_end(&mut toc).unwrap();
            let toc_digest = format!("sha256:{:x}", Sha256::digest(&toc));
            assert_eq!(
                descriptor.toc_digest.as_ref().unwrap().to_string(),
                toc_digest
            );
        }
        names.push(name);
    }
    assert_eq!(descriptor.entries, names.len() as u64);
    names
}

#[test]
fn a_layer_puts_its_prioritized_files_first_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let prioritized = vec!["app/main.py".to_owned()];
    let first = write_layer(&dir.path().join("one"), &prioritized);
    let second = write_layer(&dir.path().join("two"), &prioritized);
    assert_eq!(first, second);
    let names = check_blob(&dir.path().join("one"), &first);
    assert_eq!(names, PRIORITIZED_FIRST);
}

#[test]
fn a_missing_prioritized_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = LayerStream::create_prioritized(
        &dir.path().join("blob"),
        Compression::Estargz,
        1,
        &["app/nope.py".to_owned()],
    )
    .unwrap();
    stream.tar().directory(b"app", Owner::root(0o755)).unwrap();
    let err = stream.finish().err().unwrap().to_string();
    assert!(err.contains("app/nope.py"), "{err}");
    assert!(!dir.path().join("blob").exists());
}

#[test]
fn pieces_assemble_into_an_estargz_layer() {
    let dir = tempfile::tempdir().unwrap();
    let mut pieces = Vec::new();
    for (index, (name, content)) in FILES.iter().enumerate() {
        let blob = dir.path().join(format!("piece{index}"));
        let mut stream = LayerStream::create_piece(&blob, Compression::Estargz, 1).unwrap();
        let owner = Owner::root(0o644);
        let size = content.len() as u64;
        stream
            .tar()
            .file(name.as_bytes(), owner, size, content.as_bytes())
            .unwrap();
        let piece = stream.finish_piece(name, name).unwrap();
        let descriptor = dir.path().join(format!("piece{index}.json"));
        piece
            .descriptor
            .prepare(&descriptor)
            .unwrap()
            .commit()
            .unwrap();
        piece.blob.commit().unwrap();
        pieces.push(BlobArg { descriptor, blob });
    }
    let output = dir.path().join("layer");
    let target = Target {
        blob: &output,
        descriptor: &dir.path().join("layer.json"),
        compression: Compression::Estargz,
        jobs: 1,
        prioritized: &["app/main.py".to_owned()],
    };
    let layer = assemble(&pieces, &["/app".to_owned()], &target).unwrap();
    layer.blob.commit().unwrap();
    let names = check_blob(&output, &layer.descriptor);
    assert_eq!(names, PRIORITIZED_FIRST);
}
