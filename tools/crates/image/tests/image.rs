//! sematic-image end to end through the built binary.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{
    make_base, make_layer, read_image, run_fails, run_ok, tree_contents, BaseSpec, LayerFiles,
};
use sematic_oci_core::media_type::{
    Compression, Family, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_CONFIG,
    OCI_LAYER_GZIP, OCI_MANIFEST,
};
use sematic_oci_core::Digest;
use serde_json::{json, Value};

const EPOCH: &str = "1970-01-01T00:00:00Z";

struct Fixture {
    dir: tempfile::TempDir,
    app: LayerFiles,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = make_layer(
            dir.path(),
            "app",
            &[
                ("app/pkg/bin", "print('hello')\n"),
                ("sematic/bin/ray", "#!/bin/sh\n"),
            ],
            Compression::Gzip,
        );
        Fixture { dir, app }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn settings(&self, settings: &Value) -> String {
        let path = self.path("settings.json");
        fs::write(&path, settings.to_string()).unwrap();
        path.display().to_string()
    }

    /// Arguments writing to `out/NAME` and `NAME.digest`, plus `extra`.
    fn args(&self, name: &str, settings: &Value, extra: &[String]) -> Vec<String> {
        let mut args = vec![
            "--config-json".to_owned(),
            self.settings(settings),
            "--output-layout".into(),
            self.path(&format!("out/{name}")).display().to_string(),
            "--digest-file".into(),
            self.path(&format!("{name}.digest")).display().to_string(),
        ];
        args.extend(extra.iter().cloned());
        args
    }

    fn digest(&self, name: &str) -> String {
        fs::read_to_string(self.path(&format!("{name}.digest"))).unwrap()
    }
}

fn app_settings() -> Value {
    json!({
        "entrypoint": ["/usr/bin/python3", "/app/pkg/bin"], "cmd": null,
        "env": {"BAZEL_BUILT_IMAGE": "1", "PATH": "/sematic/bin:$PATH"},
        "workdir": "/app/pkg/bin.runfiles/_main", "user": null, "labels": {"team": "ml"},
        "layer_history": ["rules_sematic: app"],
    })
}

/// `--base-layout BASE` followed by a `--layer` for each of `layers`.
fn on_base(base: &Path, layers: &[&LayerFiles]) -> Vec<String> {
    let mut args = strings(&["--base-layout", &base.display().to_string()]);
    for layer in layers {
        args.extend(["--layer".to_owned(), layer.arg()]);
    }
    args
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// umoci must unpack the layout (it validates manifest, config, diff_ids and layer bytes).
fn umoci_unpack(layout: &Path, bundle: &Path) {
    let output = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(bundle)
        .output()
        .expect("umoci must be installed for this test (apt-get install umoci)");
    assert!(
        output.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn scratch_image_is_a_valid_layout_umoci_unpacks() {
    let fx = Fixture::new();
    let args = fx.args(
        "scratch",
        &app_settings(),
        &["--layer".into(), fx.app.arg()],
    );
    run_ok(&args);
    let layout = fx.path("out/scratch");
    let (index, manifest, config) = read_image(&layout);

    let entry = &index["manifests"][0];
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(entry["mediaType"], OCI_MANIFEST);
    assert_eq!(
        entry["annotations"],
        json!({"org.opencontainers.image.ref.name": "latest"})
    );
    assert_eq!(
        entry["platform"],
        json!({"os": "linux", "architecture": "amd64"})
    );
    let digest = fx.digest("scratch");
    assert_eq!(entry["digest"], digest.as_str());
    let manifest_bytes = fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    assert_eq!(Digest::of_bytes(&manifest_bytes).to_string(), digest);
    assert!(!digest.ends_with('\n'));

    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(
        manifest["layers"],
        json!([{"mediaType": OCI_LAYER_GZIP, "digest": fx.app.json["digest"], "size": fx.app.json["size"]}])
    );
    assert_eq!(
        config,
        json!({
            "architecture": "amd64", "os": "linux", "created": EPOCH,
            "config": {
                "Entrypoint": ["/usr/bin/python3", "/app/pkg/bin"],
                "Env": [
                    "BAZEL_BUILT_IMAGE=1",
                    "PATH=/sematic/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ],
                "Labels": {"team": "ml"},
                "WorkingDir": "/app/pkg/bin.runfiles/_main",
            },
            "rootfs": {"type": "layers", "diff_ids": [fx.app.json["diffId"]]},
            "history": [{"created": EPOCH, "created_by": "rules_sematic: app"}],
        })
    );
    // Our blob is linked, not copied.
    let linked = layout.join("blobs/sha256").join(fx.app.digest().hex());
    assert_eq!(
        fs::metadata(linked).unwrap().ino(),
        fs::metadata(&fx.app.blob).unwrap().ino()
    );

    let bundle = fx.path("bundle");
    umoci_unpack(&layout, &bundle);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/app/pkg/bin")).unwrap(),
        "print('hello')\n"
    );
}

#[test]
fn same_inputs_give_byte_identical_outputs() {
    let fx = Fixture::new();
    let base = fx.path("base");
    make_base(&base, &BaseSpec::default());
    let extra = on_base(&base, &[&fx.app]);
    run_ok(&fx.args("one", &app_settings(), &extra));
    run_ok(&fx.args("two", &app_settings(), &extra));
    assert_eq!(fx.digest("one"), fx.digest("two"));
    assert_eq!(
        tree_contents(&fx.path("out/one")),
        tree_contents(&fx.path("out/two"))
    );
    // Writing over an existing layout replaces it.
    fs::write(fx.path("out/one/stale"), b"x").unwrap();
    run_ok(&fx.args("one", &app_settings(), &extra));
    assert!(!fx.path("out/one/stale").exists());
    assert_eq!(
        tree_contents(&fx.path("out/one")),
        tree_contents(&fx.path("out/two"))
    );
    // Any change of settings changes the digest.
    let mut settings = app_settings();
    settings["user"] = json!("1000");
    run_ok(&fx.args("three", &settings, &extra));
    assert_ne!(fx.digest("one"), fx.digest("three"));
}

#[test]
fn layout_base_is_extended_and_unpacks() {
    let fx = Fixture::new();
    let base = fx.path("base");
    make_base(&base, &BaseSpec::default());
    let extra = on_base(&base, &[&fx.app]);
    let stderr = run_ok(&fx.args("img", &app_settings(), &extra));
    assert_eq!(stderr, "", "a single-image base needs no note");
    let layout = fx.path("out/img");
    let (_, manifest, config) = read_image(&layout);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(
        layers[0]["annotations"],
        json!({"org.example.kept": "verbatim"})
    );
    assert_eq!(layers[1]["digest"], fx.app.json["digest"]);
    assert_eq!(config["container_config"], json!({"Hostname": "builder"}));
    assert_eq!(config["created"], EPOCH);
    assert_eq!(
        config["config"]["Env"],
        json!([
            "PATH=/sematic/bin:/usr/local/bin:/usr/bin:/bin",
            "LANG=C.UTF-8",
            "BAZEL_BUILT_IMAGE=1",
        ])
    );
    // Setting the entrypoint drops the base's Cmd; base labels stay.
    assert_eq!(config["config"].get("Cmd"), None);
    assert_eq!(
        config["config"]["Labels"],
        json!({"base": "yes", "team": "ml"})
    );
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"].as_array().unwrap().len(), 2);

    let bundle = fx.path("bundle");
    umoci_unpack(&layout, &bundle);
    assert_eq!(
        fs::read_to_string(bundle.join("rootfs/etc/base-release")).unwrap(),
        "base"
    );
    assert!(bundle.join("rootfs/sematic/bin/ray").is_file());
}

#[test]
fn index_base_chooses_the_platform_and_says_so() {
    let fx = Fixture::new();
    let base = fx.path("base");
    let amd64 = make_base(
        &base,
        &BaseSpec {
            as_index: true,
            ..BaseSpec::default()
        },
    );
    let index: Value = serde_json::from_slice(&fs::read(base.join("index.json")).unwrap()).unwrap();
    let index_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let base_arg = on_base(&base, &[]);
    let settings = json!({"layer_history": []});

    let stderr = run_ok(&fx.args("amd64", &settings, &base_arg));
    assert_eq!(
        stderr.trim_end(),
        format!(
            "sematic-image: base {} is an image index {index_digest}; using its linux/amd64 image {amd64}",
            base.display()
        )
    );
    assert_eq!(stderr.lines().count(), 1);
    let (_, _, config) = read_image(&fx.path("out/amd64"));
    assert_eq!(config["architecture"], "amd64");

    let mut arm = base_arg.clone();
    arm.extend(strings(&["--platform", "linux/arm64"]));
    let stderr = run_ok(&fx.args("arm64", &settings, &arm));
    assert!(stderr.contains("using its linux/arm64 image"), "{stderr}");
    let (index, _, config) = read_image(&fx.path("out/arm64"));
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        index["manifests"][0]["platform"],
        json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
    );

    let mut s390x = base_arg.clone();
    s390x.extend(strings(&["--platform", "linux/s390x"]));
    run_fails(
        &fx.args("s390x", &settings, &s390x),
        &[
            "no image for platform linux/s390x",
            "offers: linux/arm64/v8, linux/amd64",
        ],
    );
    assert!(!fx.path("out/s390x").exists());
}

#[test]
fn docker_base_keeps_docker_media_types_and_refuses_zstd() {
    let fx = Fixture::new();
    let base = fx.path("base");
    make_base(
        &base,
        &BaseSpec {
            family: Family::Docker,
            ..BaseSpec::default()
        },
    );
    let extra = on_base(&base, &[&fx.app]);
    run_ok(&fx.args("docker", &app_settings(), &extra));
    let (index, manifest, _) = read_image(&fx.path("out/docker"));
    assert_eq!(index["manifests"][0]["mediaType"], DOCKER_MANIFEST);
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], DOCKER_CONFIG);
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], DOCKER_LAYER_GZIP);
    }

    let zstd = make_layer(fx.dir.path(), "zstd", &[("a", "a")], Compression::Zstd);
    let extra = on_base(&base, &[&zstd]);
    run_fails(
        &fx.args("zstd", &app_settings(), &extra),
        &[
            "zstd.json",
            "zstd layers cannot go on a Docker v2 schema 2 base",
            "use gzip",
        ],
    );
    assert!(!fx.path("out/zstd").exists());
    assert!(!fx.path("zstd.digest").exists());
}

#[test]
fn sparse_base_keeps_its_source_and_skips_missing_blobs() {
    let fx = Fixture::new();
    let base = fx.path("base");
    make_base(
        &base,
        &BaseSpec {
            sparse: true,
            source: Some("registry.example/ml/cuda"),
            ..BaseSpec::default()
        },
    );
    let extra = on_base(&base, &[&fx.app]);
    run_ok(&fx.args("sparse", &app_settings(), &extra));
    let layout = fx.path("out/sparse");
    let (index, manifest, _) = read_image(&layout);
    assert_eq!(
        index["manifests"][0]["annotations"]["dev.rules-sematic.source"],
        "registry.example/ml/cuda"
    );
    let base_layer = manifest["layers"][0]["digest"].as_str().unwrap();
    assert!(!layout.join("blobs/sha256").join(&base_layer[7..]).exists());
    assert!(layout
        .join("blobs/sha256")
        .join(fx.app.digest().hex())
        .exists());

    // Without a source, missing blobs could never be found again.
    let orphan = fx.path("orphan");
    make_base(
        &orphan,
        &BaseSpec {
            sparse: true,
            ..BaseSpec::default()
        },
    );
    let extra = ["--base-layout".to_owned(), orphan.display().to_string()];
    run_fails(
        &fx.args("orphan", &json!({}), &extra),
        &["lacks layer blob", "names no source"],
    );
}

#[test]
fn more_than_127_layers_is_refused() {
    let fx = Fixture::new();
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
    let fx = Fixture::new();
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
