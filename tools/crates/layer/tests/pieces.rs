//! Pieces and assembled layers: a layer assembled from pieces holds exactly the tar a single
//! pass writes for the same entries, checked by outside tools (gzip, zstd, GNU tar, Python).

mod common;

use std::fs;

use common::{decompress, python, sha256, tar_listing, Workspace};
use serde_json::{json, Value};

/// Two distributions' trees, as the wheel repositories lay them out.
fn inputs(ws: &Workspace) {
    ws.write("a/site/alpha/__init__.py", b"A = 1\n");
    ws.write("a/site/alpha-1.0.dist-info/METADATA", b"Name: alpha\n");
    ws.write("b/site/beta/__init__.py", &b"B = 2\n".repeat(300_000));
    ws.write("b/bin/beta", b"#!/sematic/python3\n");
}

fn tree(repo: &str, dir: &str) -> Value {
    json!({"kind": "tree", "path": format!("/app/_ext/{repo}/{dir}"), "src": format!("{repo}/{dir}")})
}

fn manifests(ws: &Workspace) {
    ws.manifest("a.json", &json!({"entries": [tree("a", "site")]}));
    ws.manifest(
        "b.json",
        &json!({"entries": [tree("b", "bin"), tree("b", "site")]}),
    );
    ws.manifest(
        "whole.json",
        &json!({"entries": [tree("a", "site"), tree("b", "bin"), tree("b", "site")]}),
    );
}

/// Builds pieces a and b and assembles them; returns (whole layer, assembled layer).
fn build(ws: &Workspace, compression: &str) -> ((Vec<u8>, Value), (Vec<u8>, Value)) {
    let whole = ws.layer_ok(
        &format!("whole-{compression}"),
        &["manifest", "whole.json", "--compression", compression],
    );
    for repo in ["a", "b"] {
        ws.layer_ok(
            &format!("{repo}-{compression}"),
            &[
                "manifest",
                &format!("{repo}.json"),
                "--piece",
                &format!("/app/_ext/{repo}"),
                "--compression",
                compression,
            ],
        );
    }
    let assembled = ws.layer_ok(
        &format!("assembled-{compression}"),
        &[
            "assemble",
            &format!("out/a-{compression}.json=out/a-{compression}.blob"),
            &format!("out/b-{compression}.json=out/b-{compression}.blob"),
            "--directory",
            "/app",
            "--directory",
            "/app/_ext",
            "--compression",
            compression,
        ],
    );
    (whole, assembled)
}

#[test]
fn assembled_layers_hold_the_tar_a_single_pass_writes() {
    let ws = Workspace::new();
    inputs(&ws);
    manifests(&ws);
    for (compression, tool) in [("gzip", "gzip"), ("zstd", "zstd"), ("none", "")] {
        let ((_, whole), (blob, assembled)) = build(&ws, compression);
        assert_eq!(assembled["diffId"], whole["diffId"], "{compression}");
        assert_eq!(assembled["uncompressedSize"], whole["uncompressedSize"]);
        assert_eq!(assembled["entries"], whole["entries"]);
        assert_eq!(assembled["mediaType"], whole["mediaType"]);
        assert_eq!(assembled["digest"], sha256(&blob).as_str());
        assert_eq!(assembled["size"], blob.len());
        let tar = if tool.is_empty() {
            blob
        } else {
            decompress(tool, &blob)
        };
        assert_eq!(
            sha256(&tar),
            assembled["diffId"].as_str().unwrap(),
            "{compression}"
        );
        let listing = tar_listing(&tar);
        assert_eq!(listing.len(), 14, "{listing:#?}");
        assert!(
            listing[0].ends_with(" app/") && listing[1].ends_with(" app/_ext/"),
            "{listing:#?}"
        );
        // Python's tarfile reads the concatenated gzip members too (it has no zstd before 3.14).
        if compression != "zstd" {
            let names = python(
                "import sys, tarfile; print(len(tarfile.open(sys.argv[1]).getnames()))",
                &[&ws.path(&format!("out/assembled-{compression}.blob"))],
            );
            assert_eq!(names.trim(), "14", "{compression}");
        }
    }
}

#[test]
fn a_piece_has_no_parents_above_its_root_and_no_end_marker() {
    let ws = Workspace::new();
    inputs(&ws);
    manifests(&ws);
    let (blob, descriptor) = ws.layer_ok(
        "a",
        &[
            "manifest",
            "a.json",
            "--piece",
            "/app/_ext/a",
            "--compression",
            "none",
        ],
    );
    assert_eq!(descriptor["first"], "app/_ext/a");
    assert_eq!(descriptor["last"], "app/_ext/a/site/alpha/__init__.py");
    assert_eq!(descriptor["uncompressedDigest"], sha256(&blob).as_str());
    assert!(
        !blob.ends_with(&[0; 1024]),
        "a piece must not end the archive"
    );
    let mut terminated = blob.clone();
    terminated.extend_from_slice(&[0; 1024]);
    let listing = tar_listing(&terminated);
    assert!(
        listing.iter().all(|line| line.contains(" app/_ext/a")),
        "{listing:#?}"
    );
}

#[test]
fn bad_pieces_and_assemblies_fail_with_one_line_and_write_nothing() {
    let ws = Workspace::new();
    inputs(&ws);
    manifests(&ws);
    build(&ws, "gzip");
    build(&ws, "zstd");
    fs::rename(ws.path("out"), ws.path("p")).unwrap();
    fs::create_dir(ws.path("out")).unwrap();
    let mut damaged = fs::read(ws.path("p/a-gzip.blob")).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    ws.write("p/damaged.blob", &damaged);

    let assemble = |pieces: &[&str], extra: &[&str], expected: &[&str]| {
        let mut args = vec!["assemble".to_owned()];
        args.extend(
            pieces
                .iter()
                .map(|piece| format!("p/{piece}.json=p/{piece}.blob")),
        );
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ws.layer_fails(&args, expected);
    };
    assemble(
        &["b-gzip", "a-gzip"],
        &["--compression", "gzip"],
        &[
            "piece p/a-gzip.json starts with app/_ext/a but piece p/b-gzip.json ends with",
            "give pieces in name order",
        ],
    );
    assemble(
        &["a-zstd"],
        &["--compression", "gzip"],
        &["piece p/a-zstd.json is zstd but the layer is gzip: build every piece with --compression gzip"],
    );
    assemble(
        &["a-gzip", "b-gzip"],
        &["--directory", "/app/_ext", "--directory", "/app"],
        &["--directory values must be sorted and distinct, parents first"],
    );
    let args = ["assemble", "p/a-gzip.json=p/damaged.blob"];
    ws.layer_fails(&args, &["piece p/damaged.blob"]);
    // Bytes after the piece's gzip member: the decoder stops, the copy goes on, the size differs.
    let mut trailing = fs::read(ws.path("p/a-gzip.blob")).unwrap();
    trailing.extend_from_slice(&[0; 3 << 20]);
    ws.write("p/trailing.blob", &trailing);
    ws.layer_fails(
        &["assemble", "p/a-gzip.json=p/trailing.blob"],
        &[
            "piece p/trailing.blob: the blob does not match p/a-gzip.json",
            "rebuild the piece",
        ],
    );
    // A descriptor whose uncompressed size is not the blob's.
    let descriptor = fs::read_to_string(ws.path("p/a-zstd.json")).unwrap();
    let size: Value = serde_json::from_str(&descriptor).unwrap();
    let size = size["uncompressedSize"].as_u64().unwrap();
    ws.write(
        "p/wrong-size.json",
        descriptor
            .replace(
                &format!("\"uncompressedSize\":{size}"),
                &format!("\"uncompressedSize\":{}", size + 512),
            )
            .as_bytes(),
    );
    ws.layer_fails(
        &[
            "assemble",
            "p/wrong-size.json=p/a-zstd.blob",
            "--compression",
            "zstd",
        ],
        &[
            "the blob does not match p/wrong-size.json (it has",
            &format!("; {size} bytes uncompressed): rebuild the piece"),
        ],
    );
    ws.layer_fails(
        &["manifest", "whole.json", "--piece", "/app/_ext/a"],
        &["/app/_ext/b/bin is outside the piece's root /app/_ext/a: a piece holds one directory tree"],
    );
    ws.layer_fails(
        &["manifest", "a.json", "--piece", "app/_ext/a"],
        &["--piece \"app/_ext/a\" is not an absolute path like /app/_ext/x"],
    );
}
