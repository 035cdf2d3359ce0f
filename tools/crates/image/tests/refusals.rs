//! sematic-image through the built binary, refusing what it cannot build: one error line,
//! and no layout or digest written.

mod common;

use std::fs;

use common::app::{app_settings, AppFixture};
use common::{make_base, run_fails, run_ok, strings, BaseSpec};
use sematic_oci_core::media_type::OCI_MANIFEST;
use serde_json::{json, Value};

#[test]
fn more_than_127_layers_is_refused() {
    let fx = AppFixture::new();
    let mut extra = Vec::new();
    for _ in 0..128 {
        extra.push("--layer".to_owned());
        extra.push(fx.app.arg());
    }
    let settings = json!({"layer_history": vec!["x"; 128]});
    run_fails(
        &fx.args("many", &settings, &extra),
        &["128 layers", "at most 127"],
    );
    assert!(!fx.path("out/many").exists());
    // 127 is fine.
    let settings = json!({"layer_history": vec!["x"; 127]});
    run_ok(&fx.args("max", &settings, &extra[2..]));
}

#[test]
fn bad_inputs_fail_with_one_line_and_no_output() {
    let fx = AppFixture::new();
    fs::create_dir_all(fx.path("out/kept")).unwrap();
    fs::write(fx.path("out/kept/marker"), b"previous output").unwrap();
    let layer = ["--layer".to_owned(), fx.app.arg()];
    let settings = app_settings();

    let not_a_layout = fx.path("empty_dir");
    fs::create_dir(&not_a_layout).unwrap();
    let with = |args: &[&str]| -> Vec<String> {
        let mut all = strings(args);
        all.extend(layer.iter().cloned());
        all
    };
    let cases: Vec<(Vec<String>, Value, Vec<&str>)> = vec![
        (
            with(&["--base-layout", &fx.path("missing").display().to_string()]),
            settings.clone(),
            vec!["missing", "is not an OCI image layout"],
        ),
        (
            with(&["--base-layout", &not_a_layout.display().to_string()]),
            settings.clone(),
            vec!["is not an OCI image layout"],
        ),
        (
            layer.to_vec(),
            json!({"layer_history": []}),
            vec!["layer_history has 0 comments for 1 --layer"],
        ),
        (
            layer.to_vec(),
            json!({"entrypoint": "/bin/sh"}),
            vec!["settings.json is not valid image settings"],
        ),
        (
            layer.to_vec(),
            json!({"envs": {}}),
            vec!["unknown field `envs`"],
        ),
    ];
    for (extra, settings, expected) in cases {
        run_fails(&fx.args("kept", &settings, &extra), &expected);
    }

    // Descriptor problems.
    fs::write(fx.path("bad.json"), b"{\"digest\": 1}").unwrap();
    let bad = format!(
        "{}={}",
        fx.path("bad.json").display(),
        fx.app.blob.display()
    );
    run_fails(
        &fx.args("kept", &settings, &["--layer".into(), bad]),
        &["bad.json", "not a valid layer descriptor"],
    );
    fs::write(fx.path("short.blob"), b"short").unwrap();
    let short = format!(
        "{}={}",
        fx.app.descriptor.display(),
        fx.path("short.blob").display()
    );
    run_fails(
        &fx.args("kept", &settings, &["--layer".into(), short]),
        &["short.blob", "(5 bytes) but the descriptor says"],
    );
    // Same size, other bytes: the digest is checked too.
    let mut bytes = fs::read(&fx.app.blob).unwrap();
    bytes[0] ^= 1;
    fs::write(fx.path("tampered.blob"), bytes).unwrap();
    let tampered = format!(
        "{}={}",
        fx.app.descriptor.display(),
        fx.path("tampered.blob").display()
    );
    run_fails(
        &fx.args("kept", &settings, &["--layer".into(), tampered]),
        &["tampered.blob", "but the descriptor says sha256:"],
    );

    // A single-image base for another platform.
    let arm = fx.path("arm");
    make_base(
        &arm,
        &BaseSpec {
            architecture: "arm64",
            ..BaseSpec::default()
        },
    );
    run_fails(
        &fx.args(
            "kept",
            &settings,
            &with(&["--base-layout", &arm.display().to_string()]),
        ),
        &[
            "base image is for linux/arm64, not linux/amd64",
            "--platform linux/arm64",
        ],
    );

    // An unknown manifest media type in the base.
    let odd = fx.path("odd");
    make_base(&odd, &BaseSpec::default());
    let index_path = odd.join("index.json");
    let index = fs::read_to_string(&index_path).unwrap();
    fs::write(
        &index_path,
        index.replace(
            OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
    )
    .unwrap();
    run_fails(
        &fx.args(
            "kept",
            &settings,
            &with(&["--base-layout", &odd.display().to_string()]),
        ),
        &["unsupported manifest media type", "manifest.v1+prettyjws"],
    );

    // Nothing above touched the previous output or wrote a digest.
    assert_eq!(
        fs::read(fx.path("out/kept/marker")).unwrap(),
        b"previous output"
    );
    assert!(!fx.path("kept.digest").exists());
    let leftovers: Vec<_> = fs::read_dir(fx.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec!["kept"]);
}
