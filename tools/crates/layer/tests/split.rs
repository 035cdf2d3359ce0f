//! A layer split into parts (`manifest --part`): the parts hold every file of the whole layer
//! once, each with its parent directories, are valid layers by outside tools' reading, and are
//! the same bytes whatever the job count; one native report covers every part.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{decompress, sha256, tar_listing, Workspace};
use serde_json::{json, Value};

/// A distribution's tree: two large libraries and a package of small files.
fn inputs(ws: &Workspace) {
    ws.write("t/site/t/lib/huge.so", &vec![7u8; 3 << 20]);
    ws.write("t/site/t/lib/big.so", &vec![8u8; 2 << 20]);
    for i in 0..40 {
        ws.write(
            &format!("t/site/t/pkg/m{i:02}.py"),
            &b"X = 1\n".repeat(2000),
        );
    }
    ws.manifest(
        "entries.json",
        &json!({"entries": [
            {"kind": "tree", "path": "/app/_ext/t-1.0-0123456789ab/site", "src": "t/site"},
            {"kind": "dir", "path": "/app/_ext/t-1.0-0123456789ab/include"},
        ]}),
    );
}

/// Writes the layer in `parts` parts with `jobs` threads; returns each part's (blob, descriptor).
fn split(ws: &Workspace, name: &str, parts: usize, jobs: &str) -> Vec<(Vec<u8>, Value)> {
    let more: Vec<String> = (1..parts)
        .map(|i| format!("out/{name}.{i}.json=out/{name}.{i}.blob"))
        .collect();
    let mut args = vec!["manifest", "entries.json", "--jobs", jobs];
    args.extend(["--native-report", "out/report.json"]);
    for part in &more {
        args.extend(["--part", part.as_str()]);
    }
    let mut written = vec![ws.layer_ok(name, &args)];
    for i in 1..parts {
        let blob = fs::read(ws.path(&format!("out/{name}.{i}.blob"))).unwrap();
        let descriptor = fs::read(ws.path(&format!("out/{name}.{i}.json"))).unwrap();
        written.push((blob, serde_json::from_slice(&descriptor).unwrap()));
    }
    written
}

/// Entry name -> `tar -tv` line of a gzip layer, checked against its descriptor.
fn listing(blob: &[u8], descriptor: &Value) -> BTreeMap<String, String> {
    assert_eq!(descriptor["digest"], sha256(blob));
    let tar = decompress("gzip", blob);
    assert_eq!(descriptor["diffId"], sha256(&tar));
    tar_listing(&tar)
        .into_iter()
        .map(|line| (line.rsplit(' ').next().unwrap().to_owned(), line))
        .collect()
}

#[test]
fn the_parts_hold_the_whole_layer_once_with_their_parents() {
    let ws = Workspace::new();
    inputs(&ws);
    let (whole_blob, whole) = ws.layer_ok("whole", &["manifest", "entries.json"]);
    let whole = listing(&whole_blob, &whole);
    let parts: Vec<_> = split(&ws, "split", 3, "2")
        .iter()
        .map(|(blob, descriptor)| listing(blob, descriptor))
        .collect();

    let mut union = BTreeMap::new();
    for part in &parts {
        for (name, line) in part {
            let is_dir = line.starts_with('d');
            let earlier = union.insert(name.clone(), line.clone());
            assert!(earlier.is_none() || is_dir, "{name} is in two parts");
            let mut parent = name.trim_end_matches('/');
            while let Some(cut) = parent.rfind('/') {
                parent = &parent[..cut];
                assert!(
                    part.contains_key(&format!("{parent}/")),
                    "{name} without {parent}/"
                );
            }
        }
    }
    assert_eq!(union, whole, "the parts together are the whole layer");
    // The two libraries are the two heaviest parts; the small files make the third.
    let holds =
        |part: &BTreeMap<String, String>, file: &str| part.keys().any(|n| n.ends_with(file));
    assert!(holds(&parts[0], "lib/huge.so") && !holds(&parts[0], "lib/big.so"));
    assert!(holds(&parts[1], "lib/big.so") && !holds(&parts[1], ".py"));
    assert!(holds(&parts[2], "pkg/m00.py") && holds(&parts[2], "pkg/m39.py"));
    assert!(
        holds(&parts[0], "include/"),
        "an empty directory goes to the first part"
    );
}

#[test]
fn parts_are_the_same_bytes_whatever_the_job_count() {
    let ws = Workspace::new();
    inputs(&ws);
    let one = split(&ws, "one", 2, "1");
    let report = fs::read(ws.path("out/report.json")).unwrap();
    let four = split(&ws, "four", 2, "4");
    assert!(one == four, "the job count changed a part");
    assert_eq!(fs::read(ws.path("out/report.json")).unwrap(), report);
}

#[test]
fn bad_parts_fail_with_nothing_written() {
    let ws = Workspace::new();
    inputs(&ws);
    ws.layer_fails(
        &["manifest", "entries.json", "--part", "out/p.blob"],
        &["expected DESCRIPTOR.json=BLOB"],
    );
    ws.layer_fails(
        &[
            "manifest",
            "entries.json",
            "--compression",
            "estargz",
            "--prioritize",
            "app",
            "--part",
            "out/p.json=out/p.blob",
        ],
        &["--prioritize and --part"],
    );
    ws.layer_fails(
        &[
            "manifest",
            "entries.json",
            "--piece",
            "/app/_ext/t-1.0-0123456789ab",
            "--part",
            "out/p.json=out/p.blob",
        ],
        &["'--piece <ROOT>' cannot be used with '--part"],
    );
    // The last part cannot be written (its directory would be under a file): no part,
    // descriptor or report is left behind.
    ws.layer_fails(
        &[
            "manifest",
            "entries.json",
            "--native-report",
            "out/report.json",
            "--part",
            "out/p.json=entries.json/p.blob",
        ],
        &["entries.json"],
    );
}
