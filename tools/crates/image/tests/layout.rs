//! sematic-image through the built binary: the layout it writes, and that the same inputs
//! always write the same bytes.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::app::{app_settings, on_base, AppFixture, EPOCH};
use common::{make_base, read_image, run_ok, tree_contents, umoci_unpack, BaseSpec};
use sematic_oci_core::media_type::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use sematic_oci_core::Digest;
use serde_json::json;

#[test]
fn scratch_image_is_a_valid_layout_umoci_unpacks() {
    let fx = AppFixture::new();
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
    let fx = AppFixture::new();
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
