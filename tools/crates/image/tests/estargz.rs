//! eStargz layers: the image step writes their TOC digest and uncompressed size as the layer
//! descriptor's annotations, refuses them on a Docker base (no layer annotations there), and
//! warns when a base layer below them is not eStargz (the image would not pull lazily).

mod common;

use std::fs;

use common::{make_base, make_layer, read_image, run_fails, run_ok, BaseSpec};
use sematic_oci_core::media_type::{Compression, Family, OCI_LAYER_GZIP};
use serde_json::json;

#[test]
fn estargz_layers_carry_their_annotations_and_need_an_oci_base() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let files = [("app/main.py", "print('hello')\n")];
    let layer = make_layer(dir.path(), "lazy", &files, Compression::Estargz);
    fs::write(
        path("settings.json"),
        json!({
            "entrypoint": null, "cmd": ["python3"], "env": {}, "workdir": null, "user": null,
            "labels": {}, "layer_history": ["rules_sematic: app"],
        })
        .to_string(),
    )
    .unwrap();
    let args = |name: &str, base: Option<&str>| {
        let mut args = vec![
            "--config-json".to_owned(),
            path("settings.json"),
            "--output-layout".into(),
            path(&format!("out/{name}")),
            "--digest-file".into(),
            path(&format!("{name}.digest")),
            "--layer".into(),
            layer.arg(),
        ];
        if let Some(base) = base {
            args.extend(["--base-layout".to_owned(), base.to_owned()]);
        }
        args
    };

    let stderr = run_ok(&args("oci", None));
    assert_eq!(stderr, "", "an image of eStargz layers only is quiet");
    let (_, manifest, _) = read_image(&dir.path().join("out/oci"));
    let descriptor = &manifest["layers"][0];
    assert_eq!(descriptor["mediaType"], OCI_LAYER_GZIP);
    let annotations = &descriptor["annotations"];
    assert_eq!(
        annotations["containerd.io/snapshot/stargz/toc.digest"],
        layer.json["tocDigest"]
    );
    assert_eq!(
        annotations["io.containers.estargz.uncompressed-size"],
        layer.json["uncompressedSize"].to_string()
    );

    let gzip_base = dir.path().join("gzip-base");
    make_base(&gzip_base, &BaseSpec::default());
    let stderr = run_ok(&args("on-gzip", Some(&gzip_base.display().to_string())));
    assert!(
        stderr.starts_with("sematic-image: warning: base layer sha256:")
            && stderr.contains("is not eStargz")
            && stderr.contains("//images:python3_estargz")
            && stderr.trim_end().lines().count() == 1,
        "{stderr:?}"
    );

    let base = dir.path().join("docker-base");
    let docker = BaseSpec {
        family: Family::Docker,
        ..BaseSpec::default()
    };
    make_base(&base, &docker);
    run_fails(
        &args("docker", Some(&base.display().to_string())),
        &[
            "lazy.json",
            "estargz layers cannot go on a Docker v2 schema 2 base",
        ],
    );
    assert!(!dir.path().join("out/docker").exists());
}
