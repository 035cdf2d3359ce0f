//! sematic-layer manifest, end to end through the built binary.

mod common;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::{decompress, python, sha256, tar_listing, Workspace};
use serde_json::{json, Value};

/// A runfiles-like fixture: several MiB across files (so gzip spans many blocks), an
/// executable, a tree artifact whose files are symlinks (as in a sandbox), a declared symlink.
fn runfiles(ws: &Workspace) -> Value {
    let mut big = Vec::new();
    for i in 0..120_000u32 {
        big.extend_from_slice(format!("def f{i}(x):\n    return x * {}\n", i % 97).as_bytes());
    }
    ws.write("in/pkg/big.py", &big);
    ws.write("in/pkg/x.py", b"print('x')\n");
    let tool = ws.write("in/worker/ray", b"#!/bin/sh\nexec ray \"$@\"\n");
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
    ws.write("execroot/gen/a.txt", b"generated a\n");
    ws.write("execroot/gen/sub/b.bin", &[7u8; 5000]);
    fs::create_dir_all(ws.path("in/gen_dir/sub")).unwrap();
    symlink(ws.path("execroot/gen/a.txt"), ws.path("in/gen_dir/a.txt")).unwrap();
    symlink(
        ws.path("execroot/gen/sub/b.bin"),
        ws.path("in/gen_dir/sub/b.bin"),
    )
    .unwrap();
    symlink("../../other_repo/lib.py", ws.path("in/declared")).unwrap();
    // A file handed over as a symlink, as Bazel sandboxes do.
    symlink(ws.path("in/pkg/x.py"), ws.path("in/x_link.py")).unwrap();
    let root = "/app/pkg/bin.runfiles";
    json!({"symlink_root": root, "entries": [
        {"path": format!("{root}/_main/pkg/big.py"), "kind": "file", "src": "in/pkg/big.py"},
        {"path": format!("{root}/_main/pkg/x.py"), "kind": "file", "src": "in/x_link.py"},
        {"path": "/sematic/bin", "kind": "dir", "mode": "0777"},
        {"path": "/sematic/bin/ray", "kind": "file", "src": "in/worker/ray"},
        {"path": format!("{root}/_main/pkg/__init__.py"), "kind": "empty"},
        {"path": format!("{root}/_main/external"), "kind": "symlink", "target": ".."},
        {"path": format!("{root}/_main/gen"), "kind": "tree", "src": "in/gen_dir"},
        {"path": format!("{root}/_main/pkg/sub/link"), "kind": "link", "src": "in/declared"},
        {"path": format!("{root}/_main/pkg/{}", "long_".repeat(30)), "kind": "file", "src": "in/pkg/x.py", "mode": "0600"},
        // An identical duplicate is merged, not an error.
        {"path": format!("{root}/_main/pkg/x.py"), "kind": "file", "src": "in/pkg/x.py"},
    ]})
}

#[test]
fn blob_and_descriptor_are_identical_across_runs_and_job_counts() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &runfiles(&ws));
    let manifest = manifest.to_str().unwrap();
    let (reference, descriptor) = ws.layer_ok("ref", &["manifest", manifest, "--jobs", "1"]);
    assert!(
        reference.len() > 100_000,
        "fixture too small to span blocks"
    );
    for (name, jobs) in [("j1", "1"), ("j2", "2"), ("j8", "8")] {
        let (blob, other) = ws.layer_ok(name, &["manifest", manifest, "--jobs", jobs]);
        assert!(blob == reference, "--jobs {jobs} changed the blob");
        assert_eq!(other, descriptor);
        assert_eq!(
            fs::read(ws.path(&format!("out/{name}.json"))).unwrap(),
            fs::read(ws.path("out/ref.json")).unwrap()
        );
    }
    // The default (available parallelism) too.
    let (blob, _) = ws.layer_ok("default", &["manifest", manifest]);
    assert!(blob == reference);
}

#[test]
fn gzip_blob_is_the_described_normalised_tar() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &runfiles(&ws));
    let (blob, descriptor) = ws.layer_ok("layer", &["manifest", manifest.to_str().unwrap()]);
    let tar = decompress("gzip", &blob);

    assert_eq!(
        descriptor["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(descriptor["digest"], sha256(&blob));
    assert_eq!(descriptor["size"], blob.len());
    assert_eq!(descriptor["diffId"], sha256(&tar));
    assert_eq!(descriptor["uncompressedSize"], tar.len());

    // Python's gzip agrees with GNU gzip on the content.
    let python_digest = python(
        "import gzip, hashlib, sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())",
        &[&ws.path("out/layer.blob")],
    );
    assert_eq!(
        format!("sha256:{}", python_digest.trim()),
        descriptor["diffId"]
    );

    let listing = tar_listing(&tar);
    assert_eq!(descriptor["entries"], listing.len());
    let r = "app/pkg/bin.runfiles/_main";
    let long = format!("{r}/pkg/{}", "long_".repeat(30));
    let expected = [
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 app/".to_owned(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 app/pkg/".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 app/pkg/bin.runfiles/".into(),
        format!("drwxr-xr-x 0/0 0 1970-01-01 00:00:00 {r}/"),
        format!("lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 {r}/external -> .."),
        format!("drwxr-xr-x 0/0 0 1970-01-01 00:00:00 {r}/gen/"),
        format!("-rw-r--r-- 0/0 12 1970-01-01 00:00:00 {r}/gen/a.txt"),
        format!("drwxr-xr-x 0/0 0 1970-01-01 00:00:00 {r}/gen/sub/"),
        format!("-rw-r--r-- 0/0 5000 1970-01-01 00:00:00 {r}/gen/sub/b.bin"),
        format!("drwxr-xr-x 0/0 0 1970-01-01 00:00:00 {r}/pkg/"),
        format!("-rw-r--r-- 0/0 0 1970-01-01 00:00:00 {r}/pkg/__init__.py"),
        format!(
            "-rw-r--r-- 0/0 {} 1970-01-01 00:00:00 {r}/pkg/big.py",
            fs::metadata(ws.path("in/pkg/big.py")).unwrap().len()
        ),
        format!("-rw------- 0/0 11 1970-01-01 00:00:00 {long}"),
        format!("drwxr-xr-x 0/0 0 1970-01-01 00:00:00 {r}/pkg/sub/"),
        format!("lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 {r}/pkg/sub/link -> ../../other_repo/lib.py"),
        format!("-rw-r--r-- 0/0 11 1970-01-01 00:00:00 {r}/pkg/x.py"),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 sematic/".into(),
        "drwxrwxrwx 0/0 0 1970-01-01 00:00:00 sematic/bin/".into(),
        "-rwxr-xr-x 0/0 24 1970-01-01 00:00:00 sematic/bin/ray".into(),
    ];
    assert_eq!(listing, expected);

    // Names are in byte order and nothing of the host (user names, paths) is in the archive.
    let names = python(
        "import tarfile, sys\nfor m in tarfile.open(sys.argv[1]):\n print(m.name, m.uname or '-', m.gname or '-', m.mtime)",
        &[&ws.path("out/layer.blob")],
    );
    let rows: Vec<&str> = names.lines().collect();
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    assert!(rows.iter().all(|row| row.ends_with(" - - 0")), "{rows:?}");
    let host_path = ws.dir.path().as_os_str().as_bytes();
    assert!(!tar.windows(host_path.len()).any(|w| w == host_path));
}

#[test]
fn changing_one_file_changes_the_digest_and_diff_id() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &runfiles(&ws));
    let manifest = manifest.to_str().unwrap();
    let (before, d1) = ws.layer_ok("before", &["manifest", manifest]);
    ws.write("execroot/gen/sub/b.bin", &[8u8; 5000]);
    let (after, d2) = ws.layer_ok("after", &["manifest", manifest]);
    assert_ne!(before, after);
    assert_ne!(d1["digest"], d2["digest"]);
    assert_ne!(d1["diffId"], d2["diffId"]);
    assert_eq!(d1["uncompressedSize"], d2["uncompressedSize"]);
}

#[test]
fn zstd_and_uncompressed_layers_describe_the_same_tar() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &runfiles(&ws));
    let manifest = manifest.to_str().unwrap();
    let (gzip_blob, gzip) = ws.layer_ok("gzip", &["manifest", manifest]);
    let (tar, none) = ws.layer_ok("none", &["manifest", manifest, "--compression", "none"]);
    assert_eq!(none["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(none["digest"], none["diffId"]);
    assert_eq!(none["diffId"], gzip["diffId"]);
    assert_eq!(decompress("gzip", &gzip_blob), tar);

    let (zstd_blob, zstd) = ws.layer_ok(
        "zstd",
        &["manifest", manifest, "--compression", "zstd", "--jobs", "1"],
    );
    assert_eq!(
        zstd["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(zstd["diffId"], gzip["diffId"]);
    assert_eq!(zstd["digest"], sha256(&zstd_blob));
    assert_eq!(decompress("zstd", &zstd_blob), tar);
    let (zstd_8, _) = ws.layer_ok(
        "zstd8",
        &["manifest", manifest, "--compression", "zstd", "--jobs", "8"],
    );
    assert!(zstd_8 == zstd_blob, "zstd output depends on --jobs");
}

#[test]
fn a_hundred_thousand_entries() {
    let ws = Workspace::new();
    ws.write("in/a.py", b"a = 1\n");
    let entries: Vec<Value> = (0..100_000)
        .map(|i| {
            let path = format!("/app/d{:03}/f{i:06}.py", i % 500);
            if i % 2 == 0 {
                json!({"path": path, "kind": "file", "src": "in/a.py"})
            } else {
                json!({"path": path, "kind": "empty"})
            }
        })
        .collect();
    let manifest = ws.manifest("entries.json", &json!({ "entries": entries }));
    let (_, descriptor) = ws.layer_ok("big", &["manifest", manifest.to_str().unwrap()]);
    // 100 000 files, 500 directories and /app.
    assert_eq!(descriptor["entries"], 100_501);
}

/// Every bad input fails with one line naming the entry and leaves no output.
#[test]
fn bad_manifests_fail_cleanly() {
    let ws = Workspace::new();
    ws.write("in/a", b"a");
    ws.write("in/b", b"b");
    ws.write("in/dir/x", b"x");
    symlink("../elsewhere", ws.path("in/declared_escape")).unwrap();
    symlink("/abs/target", ws.path("in/declared_abs")).unwrap();
    fs::create_dir_all(ws.path("in/bad_tree")).unwrap();
    fs::write(
        ws.path("in/bad_tree")
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9.py")),
        b"",
    )
    .unwrap();
    fs::create_dir_all(ws.path("in/dangling_tree")).unwrap();
    symlink(ws.path("in/nowhere"), ws.path("in/dangling_tree/gone")).unwrap();

    let root = "/app/bin.runfiles";
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"path": "app/x", "kind": "empty"}),
            vec!["entries[0] (app/x)", "not absolute"],
        ),
        (
            json!({"path": "/app/./x", "kind": "empty"}),
            vec!["entries[0] (/app/./x)", "normalised"],
        ),
        (
            json!({"path": "/app/../x", "kind": "empty"}),
            vec!["entries[0] (/app/../x)", "\"..\""],
        ),
        (
            json!({"path": "/app//x", "kind": "empty"}),
            vec!["entries[0] (/app//x)", "empty"],
        ),
        (
            json!({"path": "/app/x/", "kind": "empty"}),
            vec!["entries[0] (/app/x/)", "trailing slash"],
        ),
        (
            json!({"path": "/app/x", "kind": "file", "src": "in/missing"}),
            vec!["entries[0] (/app/x)", "in/missing does not exist"],
        ),
        (
            json!({"path": "/app/x", "kind": "file", "src": "in/dir"}),
            vec![
                "entries[0] (/app/x)",
                "is a source directory, whose files Bazel does not track: list them",
            ],
        ),
        (
            json!({"path": format!("{root}/l"), "kind": "symlink", "target": "/usr/bin/python3"}),
            vec!["entries[0] (/app/bin.runfiles/l)", "is absolute"],
        ),
        (
            json!({"path": format!("{root}/_main/l"), "kind": "symlink", "target": "../../etc"}),
            vec![
                "entries[0] (/app/bin.runfiles/_main/l)",
                "escapes /app/bin.runfiles",
            ],
        ),
        (
            json!({"path": "/l", "kind": "symlink", "target": "../x"}),
            vec!["entries[0] (/l)", "escapes /"],
        ),
        (
            json!({"path": format!("{root}/l"), "kind": "link", "src": "in/declared_escape"}),
            vec!["entries[0] (/app/bin.runfiles/l)", "escapes"],
        ),
        (
            json!({"path": format!("{root}/l"), "kind": "link", "src": "in/declared_abs"}),
            vec!["entries[0] (/app/bin.runfiles/l)", "is absolute"],
        ),
        (
            json!({"path": "/app/l", "kind": "link", "src": "in/a"}),
            vec!["entries[0] (/app/l)", "is not a symlink"],
        ),
        (
            json!({"path": "/app/t", "kind": "tree", "src": "in/bad_tree"}),
            vec!["entries[0] (/app/t)", "not valid UTF-8", "rename"],
        ),
        (
            json!({"path": "/app/t", "kind": "tree", "src": "in/dangling_tree"}),
            vec!["entries[0] (/app/t)", "gone"],
        ),
        (
            json!({"path": "/app/x", "kind": "socket"}),
            vec!["entries[0] (/app/x)", "unknown kind"],
        ),
    ];
    for (entry, expected) in cases {
        let manifest = ws.manifest(
            "bad.json",
            &json!({"symlink_root": root, "entries": [entry]}),
        );
        ws.layer_fails(&["manifest", manifest.to_str().unwrap()], &expected);
    }

    let pairs: Vec<(Value, Value, Vec<&str>)> = vec![
        (
            json!({"path": "/app/x", "kind": "file", "src": "in/a"}),
            json!({"path": "/app/x", "kind": "file", "src": "in/b"}),
            vec!["entries[1] (/app/x)", "different content", "entries[0]"],
        ),
        (
            json!({"path": "/app/x", "kind": "file", "src": "in/a"}),
            json!({"path": "/app/x", "kind": "symlink", "target": "a"}),
            vec!["entries[1] (/app/x)", "as a regular file in entries[0]"],
        ),
        (
            json!({"path": "/app/d", "kind": "dir", "mode": "0700"}),
            json!({"path": "/app/d", "kind": "dir"}),
            vec!["entries[1] (/app/d)", "different modes"],
        ),
        (
            json!({"path": "/app/x", "kind": "file", "src": "in/a"}),
            json!({"path": "/app/x/y", "kind": "empty"}),
            vec![
                "entries[1] (/app/x/y)",
                "/app/x to be a directory",
                "entries[0] (/app/x)",
            ],
        ),
    ];
    for (first, second, expected) in pairs {
        let manifest = ws.manifest("bad.json", &json!({"entries": [first, second]}));
        ws.layer_fails(&["manifest", manifest.to_str().unwrap()], &expected);
    }

    ws.write("bad.json", b"{\"entries\": [{\"path\": ");
    ws.layer_fails(
        &["manifest", "bad.json"],
        &["bad.json", "malformed manifest"],
    );
    ws.layer_fails(&["manifest", "missing.json"], &["missing.json"]);
    let manifest = ws.manifest("bad.json", &json!({"entries": []}));
    ws.layer_fails(
        &[
            "manifest",
            manifest.to_str().unwrap(),
            "--compression",
            "lz4",
        ],
        &["lz4"],
    );
}

#[test]
fn an_explicit_dir_sets_the_mode_of_an_implied_one() {
    let ws = Workspace::new();
    ws.write("in/a", b"a");
    let manifest = ws.manifest(
        "entries.json",
        &json!({"entries": [
            {"path": "/opt/tool/a", "kind": "file", "src": "in/a"},
            {"path": "/opt/tool", "kind": "dir", "mode": "0750"},
        ]}),
    );
    let (blob, _) = ws.layer_ok("layer", &["manifest", manifest.to_str().unwrap()]);
    let listing = tar_listing(&decompress("gzip", &blob));
    assert_eq!(
        listing,
        [
            "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/",
            "drwxr-x--- 0/0 0 1970-01-01 00:00:00 opt/tool/",
            "-rw-r--r-- 0/0 1 1970-01-01 00:00:00 opt/tool/a",
        ]
    );
}
