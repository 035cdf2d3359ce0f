//! sematic-image through the built binary, on each kind of base layout: a single image, an
//! index, a Docker v2 schema 2 image and a shallow (sparse) pull.

mod common;

use std::fs;

use common::app::{app_settings, on_base, AppFixture, EPOCH};
use common::{
    make_base, make_layer, read_image, run_fails, run_ok, strings, umoci_unpack, BaseSpec,
};
use sematic_oci_core::media_type::{
    Compression, Family, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
};
use serde_json::{json, Value};

#[test]
fn layout_base_is_extended_and_unpacks() {
    let fx = AppFixture::new();
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
    let fx = AppFixture::new();
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
    let fx = AppFixture::new();
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
    let fx = AppFixture::new();
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
