//! sematic-index end to end: images built by sematic-image for two platforms become one
//! multi-platform layout that skopeo reads per platform.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{blob_json, make_base, make_layer, run_ok, tree_contents, BaseSpec, LayerFiles};
use sematic_oci_core::media_type::{Compression, Family, DOCKER_MANIFEST_LIST, OCI_INDEX};
use serde_json::{json, Value};

const INDEX_BIN: &str = env!("CARGO_BIN_EXE_sematic-index");

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
            &[("app/main.py", "print('hi')\n")],
            Compression::Gzip,
        );
        fs::write(
            dir.path().join("settings.json"),
            json!({"layer_history": ["rules_sematic: app"]}).to_string(),
        )
        .unwrap();
        Fixture { dir, app }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// sematic-image for `platform` on `base`; returns the image layout.
    fn image(&self, base: &Path, platform: &str, name: &str) -> PathBuf {
        let layout = self.path(name);
        run_ok(&[
            "--base-layout".into(),
            base.display().to_string(),
            "--platform".into(),
            platform.into(),
            "--layer".into(),
            self.app.arg(),
            "--config-json".into(),
            self.path("settings.json").display().to_string(),
            "--output-layout".into(),
            layout.display().to_string(),
            "--digest-file".into(),
            self.path(&format!("{name}.digest")).display().to_string(),
        ]);
        layout
    }

    fn base(&self, name: &str, spec: &BaseSpec) -> PathBuf {
        let base = self.path(name);
        make_base(
            &base,
            &BaseSpec {
                as_index: true,
                ..*spec
            },
        );
        base
    }

    /// sematic-index over `images` into `out/NAME`; returns (status ok, stderr).
    fn index(&self, name: &str, images: &[&Path]) -> (bool, String) {
        let mut command = Command::new(INDEX_BIN);
        for image in images {
            command.arg("--image").arg(image);
        }
        let output = command
            .arg("--output-layout")
            .arg(self.path(&format!("out/{name}")))
            .arg("--digest-file")
            .arg(self.path(&format!("{name}.index-digest")))
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn skopeo(args: &[&str]) -> String {
    let output = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo must be installed for this test (apt-get install skopeo)");
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn two_platforms_make_one_index_skopeo_reads_per_platform() {
    let fx = Fixture::new();
    let base = fx.base("base", &BaseSpec::default());
    let amd64 = fx.image(&base, "linux/amd64", "amd64");
    let arm64 = fx.image(&base, "linux/arm64", "arm64");
    let (ok, stderr) = fx.index("multi", &[&amd64, &arm64]);
    assert!(ok, "{stderr}");

    let layout = fx.path("out/multi");
    let top = read_json(&layout.join("index.json"));
    let entry = &top["manifests"][0];
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(entry["mediaType"], OCI_INDEX);
    let digest = fs::read_to_string(fx.path("multi.index-digest")).unwrap();
    assert_eq!(entry["digest"], digest.as_str());
    let index = blob_json(&layout, &digest);
    let platforms: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["platform"])
        .collect();
    assert_eq!(
        platforms,
        [
            &json!({"os": "linux", "architecture": "amd64"}),
            &json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        ]
    );
    for (member, image) in index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&amd64, &arm64])
    {
        let own = read_json(&image.join("index.json"));
        assert_eq!(member["digest"], own["manifests"][0]["digest"]);
        assert_eq!(member["size"], own["manifests"][0]["size"]);
    }

    let reference = format!("oci:{}:latest", layout.display());
    let raw: Value = serde_json::from_str(&skopeo(&["inspect", "--raw", &reference])).unwrap();
    assert_eq!(raw, index);
    for (arch, image) in [("amd64", &amd64), ("arm64", &arm64)] {
        let copy = fx.path(&format!("copy-{arch}"));
        skopeo(&[
            "copy",
            "--quiet",
            "--override-arch",
            arch,
            &reference,
            &format!("oci:{}:x", copy.display()),
        ]);
        let copied = read_json(&copy.join("index.json"));
        let own = read_json(&image.join("index.json"));
        assert_eq!(
            copied["manifests"][0]["digest"], own["manifests"][0]["digest"],
            "{arch}"
        );
    }

    // Same inputs, same bytes.
    let (ok, stderr) = fx.index("again", &[&amd64, &arm64]);
    assert!(ok, "{stderr}");
    assert_eq!(tree_contents(&layout), tree_contents(&fx.path("out/again")));
}

#[test]
fn shallow_images_keep_their_source_and_docker_bases_make_a_manifest_list() {
    let fx = Fixture::new();
    let spec = BaseSpec {
        family: Family::Docker,
        sparse: true,
        source: Some("registry.example/ml/base"),
        ..BaseSpec::default()
    };
    let base = fx.base("base", &spec);
    let amd64 = fx.image(&base, "linux/amd64", "amd64");
    let arm64 = fx.image(&base, "linux/arm64", "arm64");
    let (ok, stderr) = fx.index("multi", &[&amd64, &arm64]);
    assert!(ok, "{stderr}");
    let top = read_json(&fx.path("out/multi/index.json"));
    assert_eq!(top["manifests"][0]["mediaType"], DOCKER_MANIFEST_LIST);
    assert_eq!(
        top["manifests"][0]["annotations"]["dev.rules-sematic.source"],
        "registry.example/ml/base"
    );
}

#[test]
fn bad_inputs_fail_with_one_line_and_no_output() {
    let fx = Fixture::new();
    let oci = fx.base("oci", &BaseSpec::default());
    let docker = fx.base(
        "docker",
        &BaseSpec {
            family: Family::Docker,
            ..BaseSpec::default()
        },
    );
    let amd64 = fx.image(&oci, "linux/amd64", "amd64");
    let amd64_again = fx.image(&oci, "linux/amd64", "amd64-again");
    let docker_arm64 = fx.image(&docker, "linux/arm64", "docker-arm64");
    let first_index = {
        let arm64 = fx.image(&oci, "linux/arm64", "arm64");
        assert!(fx.index("first", &[&amd64, &arm64]).0);
        fx.path("out/first")
    };
    let elsewhere = |name: &str, source: &'static str| {
        let spec = BaseSpec {
            sparse: true,
            source: Some(source),
            ..BaseSpec::default()
        };
        fx.base(name, &spec)
    };
    let from_a = fx.image(
        &elsewhere("base-a", "reg.example/a"),
        "linux/amd64",
        "from-a",
    );
    let from_b = fx.image(
        &elsewhere("base-b", "reg.example/b"),
        "linux/arm64",
        "from-b",
    );
    let cases: [(&str, Vec<&Path>, &str); 5] = [
        (
            "mixed",
            vec![&amd64, &docker_arm64],
            "the images of an index must share a manifest family",
        ),
        (
            "twice",
            vec![&amd64, &amd64_again],
            "two images are for linux/amd64: an index holds one image per platform",
        ),
        (
            "nested",
            vec![&first_index],
            "the layout holds an image index; an index can only list images",
        ),
        (
            "sources",
            vec![&from_a, &from_b],
            "the images take their base layers from different repositories (reg.example/a, reg.example/b)",
        ),
        (
            "missing",
            vec![Path::new("/nonexistent/layout")],
            "image /nonexistent/layout",
        ),
    ];
    for (name, images, message) in cases {
        let (ok, stderr) = fx.index(name, &images);
        assert!(!ok, "{name} succeeded");
        assert!(
            stderr.starts_with("sematic-index: error: ") && stderr.trim_end().lines().count() == 1,
            "{name}: not a one-line error: {stderr:?}"
        );
        assert!(stderr.contains(message), "{name}: {stderr:?}");
        assert!(!fx.path(&format!("out/{name}")).exists(), "{name}");
        assert!(!fx.path(&format!("{name}.index-digest")).exists(), "{name}");
    }
}
