//! sematic-tarball end to end: the tar is deterministic and loads with skopeo and podman.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use sematic_layer::stream::LayerStream;
use sematic_oci_core::archive::Owner;
use sematic_oci_core::canonical::to_canonical_json;
use sematic_oci_core::layout::{LayoutWriter, REF_NAME_ANNOTATION, SOURCE_ANNOTATION};
use sematic_oci_core::media_type::{Compression, Family, OCI_MANIFEST};
use sematic_oci_core::platform::Platform;
use sematic_oci_core::Digest;
use sematic_tarball::archive::{Archive, Blob, RepoTag};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_sematic-tarball");

/// What [`make_image`] wrote.
struct Image {
    manifest: Digest,
    layers: Vec<Digest>,
    diff_ids: Vec<Digest>,
}

/// An image layout with two real layers, written with our own layer writer and oci-core.
fn make_image(root: &Path, source: Option<&str>) -> Image {
    let scratch = tempfile::tempdir().unwrap();
    let writer = LayoutWriter::create(root).unwrap();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (index, content) in ["first layer", "second layer"].iter().enumerate() {
        let blob = scratch.path().join(format!("{index}.blob"));
        let mut stream = LayerStream::create(&blob, Compression::Gzip, 2).unwrap();
        stream.tar().directory(b"etc", Owner::root(0o755)).unwrap();
        let name = format!("etc/layer{index}");
        stream
            .tar()
            .file(
                name.as_bytes(),
                Owner::root(0o644),
                content.len() as u64,
                content.as_bytes(),
            )
            .unwrap();
        let finished = stream.finish().unwrap();
        finished.blob.commit().unwrap();
        let descriptor = finished.descriptor;
        writer.put_blob_file(&blob, &descriptor.digest).unwrap();
        layers.push(json!({
            "mediaType": Family::Oci.layer(Compression::Gzip).unwrap(),
            "digest": descriptor.digest, "size": descriptor.size,
        }));
        diff_ids.push(descriptor.diff_id);
    }
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "a"}, {"created_by": "b"}],
    });
    let config_bytes = to_canonical_json(&config).unwrap();
    let config_digest = writer.put_blob_bytes(&config_bytes).unwrap();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": Family::Oci.config(), "digest": config_digest, "size": config_bytes.len()},
        "layers": layers,
    });
    let manifest_bytes = to_canonical_json(&manifest).unwrap();
    let digest = writer.put_blob_bytes(&manifest_bytes).unwrap();
    let mut annotations = json!({REF_NAME_ANNOTATION: "latest"});
    if let Some(source) = source {
        annotations[SOURCE_ANNOTATION] = json!(source);
    }
    let entry = json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest_bytes.len(), "annotations": annotations});
    writer
        .finish(vec![serde_json::from_value(entry).unwrap()])
        .unwrap();
    Image {
        manifest: digest,
        layers: layers
            .iter()
            .map(|l| Digest::parse(l["digest"].as_str().unwrap()).unwrap())
            .collect(),
        diff_ids,
    }
}

/// The JSON blob `digest` of the layout at `root`.
fn blob_json(root: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&fs::read(root.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

fn tarball(layout: &Path, output: &Path, tags: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("--layout")
        .arg(layout)
        .arg("--output")
        .arg(output);
    for tag in tags {
        command.args(["--repo-tag", tag]);
    }
    command.output().unwrap()
}

fn tarball_ok(layout: &Path, output: &Path, tags: &[&str]) {
    let result = tarball(layout, output, tags);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn run_tool(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> String {
    let output = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .output()
        .unwrap_or_else(|err| panic!("{program} must be installed for this test: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn member(tar: &Path, name: &str) -> Value {
    let text = run_tool("tar", &["-xOf", tar.to_str().unwrap(), name], &[]);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tarball_is_deterministic_and_has_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let Image {
        manifest, layers, ..
    } = make_image(&layout, None);
    let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
    let tags = ["registry.example/ml/app:v1", "app:latest"];
    tarball_ok(&layout, &a, &tags);
    tarball_ok(&layout, &b, &tags);
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap());

    let listing = run_tool(
        "tar",
        &["--numeric-owner", "-tvf", a.to_str().unwrap()],
        &[("TZ", Path::new("UTC"))],
    );
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 2 + 4 + 3, "{listing}");
    assert!(
        listing
            .lines()
            .all(|l| l.contains(" 0/0 ") && l.contains("1970-01-01 00:00")),
        "{listing}"
    );

    let docker = member(&a, "manifest.json");
    let config = docker[0]["Config"].as_str().unwrap().to_owned();
    assert_eq!(
        docker,
        json!([{
            "Config": config,
            "RepoTags": ["registry.example/ml/app:v1", "docker.io/library/app:latest"],
            "Layers": layers.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
        }])
    );
    let index = member(&a, "index.json");
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["digest"], manifest.to_string());
    assert_eq!(
        entries[1]["annotations"]["io.containerd.image.name"],
        "docker.io/library/app:latest"
    );
    assert_eq!(
        entries[1]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
}

#[test]
fn skopeo_reads_it_as_a_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let image = make_image(&layout, None);
    let tar = dir.path().join("image.tar");
    tarball_ok(&layout, &tar, &["registry.example/ml/app:v1"]);
    let copy = dir.path().join("copy");
    run_tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("docker-archive:{}", tar.display()),
            &format!("oci:{}:copied", copy.display()),
        ],
        &[],
    );
    // skopeo recompresses layers on the way, but the uncompressed content is what it read.
    let index: Value = serde_json::from_slice(&fs::read(copy.join("index.json")).unwrap()).unwrap();
    let manifest = blob_json(&copy, index["manifests"][0]["digest"].as_str().unwrap());
    let config = blob_json(&copy, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["rootfs"]["diff_ids"], json!(image.diff_ids));
    assert_eq!(config["config"]["Entrypoint"], json!(["/bin/true"]));
    // And as an OCI archive, by its tag.
    run_tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("oci-archive:{}:v1", tar.display()),
            &format!("oci:{}:again", copy.display()),
        ],
        &[],
    );
}

#[test]
fn podman_loads_it_under_every_tag() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    make_image(&layout, None);
    let tar = dir.path().join("image.tar");
    tarball_ok(
        &layout,
        &tar,
        &[
            "registry.example/ml/app:v1",
            "registry.example/ml/app:stable",
        ],
    );

    // Private storage under the temp dir; settings for a machine without systemd.
    let conf = dir.path().join("containers.conf");
    fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\nnetns = \"none\"\n\
         [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    let storage = dir.path().join("storage.conf");
    fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
            dir.path().join("run").display(),
            dir.path().join("graph").display()
        ),
    )
    .unwrap();
    let envs = [
        ("CONTAINERS_CONF", conf.as_path()),
        ("CONTAINERS_STORAGE_CONF", storage.as_path()),
    ];
    let loaded = run_tool("podman", &["load", "--input", tar.to_str().unwrap()], &envs);
    assert!(loaded.contains("registry.example/ml/app:v1"), "{loaded}");
    let names = run_tool(
        "podman",
        &[
            "image",
            "inspect",
            "registry.example/ml/app:stable",
            "--format",
            "{{.RepoTags}} {{.Config.Entrypoint}}",
        ],
        &envs,
    );
    assert!(names.contains("registry.example/ml/app:v1"), "{names}");
    assert!(names.contains("[/bin/true]"), "{names}");
}

#[test]
fn shallow_layouts_and_bad_tags_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layers = make_image(&layout, Some("registry.example/ml/cuda")).layers;
    fs::remove_file(layout.join("blobs/sha256").join(layers[0].hex())).unwrap();
    let out = dir.path().join("out.tar");
    let expect_error = |output: Output, parts: &[&str]| {
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success());
        assert!(
            stderr.starts_with("sematic-tarball: error: ")
                && stderr.trim_end().lines().count() == 1,
            "{stderr:?}"
        );
        for part in parts {
            assert!(stderr.contains(part), "{stderr:?} lacks {part:?}");
        }
        assert!(!out.exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["layout"], "temporary files left behind");
    };
    expect_error(
        tarball(&layout, &out, &["r.example/app:v1"]),
        &[
            "shallow",
            layers[0].hex(),
            "registry.example/ml/cuda",
            "needs every layer",
        ],
    );
    expect_error(tarball(&layout, &out, &["r.example/app"]), &["has no tag"]);
    expect_error(tarball(&layout, &out, &[]), &["--repo-tag"]);
    expect_error(
        tarball(&dir.path().join("nope"), &out, &["r.example/app:v1"]),
        &["not an OCI image layout"],
    );
}

#[test]
fn an_incremental_archive_leaves_out_what_the_runtime_has() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let image = make_image(&layout, Some("registry.example/ml/cuda"));
    // The first layer is in the runtime's store, and absent from a shallow layout.
    fs::remove_file(layout.join("blobs/sha256").join(image.layers[0].hex())).unwrap();
    let tag = RepoTag::parse("registry.example/ml/app:dev").unwrap();
    let archive = Archive::open(&layout, &Platform::parse("linux/amd64").unwrap(), &[tag]).unwrap();
    assert_eq!(archive.blobs().len(), 4);
    let lacking = |blob: &Blob| blob.digest != image.layers[0];
    archive.require(lacking, "fix").unwrap();
    let err = archive
        .require(|_| true, "and so on")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("shallow") && err.ends_with("and so on"),
        "{err}"
    );

    let path = dir.path().join("partial.tar");
    let written = archive
        .write(fs::File::create(&path).unwrap(), lacking)
        .unwrap();
    let sent: Vec<&Blob> = archive.blobs().iter().filter(|b| lacking(b)).collect();
    assert_eq!(written.blobs, 3);
    assert_eq!(written.bytes, sent.iter().map(|b| b.size).sum::<u64>());
    let listing = run_tool("tar", &["-tf", path.to_str().unwrap()], &[]);
    assert!(!listing.contains(image.layers[0].hex()), "{listing}");
    for name in ["index.json", "manifest.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == name), "{listing}");
    }
    assert_eq!(
        member(&path, "index.json")["manifests"][0]["digest"],
        image.manifest.to_string()
    );
}
