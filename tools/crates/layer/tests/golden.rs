//! Golden bytes: a fixed layer must keep its exact digests. These constants change only when
//! the tar format, the compressor (zlib-rs deflate level 6 in 1 MiB blocks, zstd level 3 with a
//! checksum) or its framing changes, and every image digest users have changes with them: a
//! failure here is a compatibility decision to make on purpose, then record in the changelog.

use sematic_layer::stream::LayerStream;
use sematic_oci_core::archive::Owner;
use sematic_oci_core::media_type::Compression;

/// A deterministic mix of text and incompressible bytes, 3.5 MiB in all (several gzip blocks).
fn entries() -> Vec<(&'static str, Vec<u8>)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..(3 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let text = "def pipeline(a, b):\n    return a + b\n"
        .repeat(16_384)
        .into_bytes();
    vec![
        ("app/pkg/noise.bin", noise),
        ("app/pkg/pipeline.py", text),
        ("app/pkg/empty", Vec::new()),
    ]
}

fn layer(compression: Compression, jobs: usize) -> (String, String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = LayerStream::create(&dir.path().join("blob"), compression, jobs).unwrap();
    stream.tar().directory(b"app", Owner::root(0o755)).unwrap();
    stream
        .tar()
        .directory(b"app/pkg", Owner::root(0o755))
        .unwrap();
    for (name, content) in entries() {
        let owner = Owner::root(0o644);
        stream
            .tar()
            .file(
                name.as_bytes(),
                owner,
                content.len() as u64,
                content.as_slice(),
            )
            .unwrap();
    }
    let descriptor = stream.finish().unwrap().descriptor;
    (
        descriptor.digest.to_string(),
        descriptor.diff_id.to_string(),
        descriptor.size,
    )
}

const DIFF_ID: &str = "sha256:e92f07cd83166213547a89347a23e5f84ac559de58805278c78ba5e134cae2bd";

#[test]
fn gzip_layer_bytes_are_pinned() {
    for jobs in [1, 2, 4] {
        let (digest, diff_id, size) = layer(Compression::Gzip, jobs);
        assert_eq!(diff_id, DIFF_ID);
        assert_eq!(
            (digest.as_str(), size),
            (
                "sha256:a938488967a121753b3eb721454751d2a2e6f4dc63713bcafcf58ec6cbc6b0ec",
                3149963
            ),
            "{jobs} jobs"
        );
    }
}

#[test]
fn zstd_layer_bytes_are_pinned() {
    for jobs in [1, 2] {
        let (digest, diff_id, size) = layer(Compression::Zstd, jobs);
        assert_eq!(diff_id, DIFF_ID);
        assert_eq!(
            (digest.as_str(), size),
            (
                "sha256:f009401eeefc6692f745ff8f44cca298eedf2df9a2206985292228f736ed5df1",
                3147547
            ),
            "{jobs} jobs"
        );
    }
}

#[test]
fn uncompressed_layer_is_the_tar() {
    let (digest, diff_id, _) = layer(Compression::None, 1);
    assert_eq!(digest, diff_id);
    assert_eq!(diff_id, DIFF_ID);
}
