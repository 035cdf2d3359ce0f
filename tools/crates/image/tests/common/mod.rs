//! Fixtures for the sematic-image tests, built with our own layer writer and oci-core (no
//! network): real gzip layers, and base layouts of every shape the tool must handle.

#![allow(dead_code)] // each test file uses a different subset

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sematic_layer::stream::LayerStream;
use sematic_oci_core::archive::Owner;
use sematic_oci_core::canonical::to_canonical_json;
use sematic_oci_core::layout::{LayoutWriter, REF_NAME_ANNOTATION, SOURCE_ANNOTATION};
use sematic_oci_core::media_type::{Compression, Family};
use sematic_oci_core::Digest;
use serde_json::{json, Value};

pub mod app;

pub const BIN: &str = env!("CARGO_BIN_EXE_sematic-image");

/// A layer on disk: `NAME.blob` and `NAME.json` in the fixture directory.
pub struct LayerFiles {
    pub blob: PathBuf,
    pub descriptor: PathBuf,
    pub json: Value,
}

impl LayerFiles {
    /// The `--layer` argument for this layer.
    pub fn arg(&self) -> String {
        format!("{}={}", self.descriptor.display(), self.blob.display())
    }

    pub fn digest(&self) -> Digest {
        Digest::parse(self.json["digest"].as_str().unwrap()).unwrap()
    }
}

/// Writes a layer holding `files` (path → content) with directories for their parents.
pub fn make_layer(
    dir: &Path,
    name: &str,
    files: &[(&str, &str)],
    compression: Compression,
) -> LayerFiles {
    let blob = dir.join(format!("{name}.blob"));
    let descriptor_path = dir.join(format!("{name}.json"));
    let mut stream = LayerStream::create(&blob, compression, 2).unwrap();
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut parent = *path;
        while let Some(cut) = parent.rfind('/') {
            parent = &parent[..cut];
            dirs.insert(parent.to_owned());
        }
    }
    let mut entries: Vec<(String, Option<&str>)> = dirs.into_iter().map(|d| (d, None)).collect();
    entries.extend(files.iter().map(|(p, c)| ((*p).to_owned(), Some(*c))));
    entries.sort();
    for (path, content) in entries {
        match content {
            None => stream
                .tar()
                .directory(path.as_bytes(), Owner::root(0o755))
                .unwrap(),
            Some(content) => stream
                .tar()
                .file(
                    path.as_bytes(),
                    Owner::root(0o644),
                    content.len() as u64,
                    content.as_bytes(),
                )
                .unwrap(),
        }
    }
    let finished = stream.finish().unwrap();
    finished.blob.commit().unwrap();
    finished
        .descriptor
        .prepare(&descriptor_path)
        .unwrap()
        .commit()
        .unwrap();
    let json = serde_json::from_slice(&fs::read(&descriptor_path).unwrap()).unwrap();
    LayerFiles {
        blob,
        descriptor: descriptor_path,
        json,
    }
}

/// Options for a base layout.
pub struct BaseSpec<'a> {
    pub family: Family,
    pub architecture: &'a str,
    pub env: &'a [&'a str],
    /// Put the image behind an index listing it and a second (arm64) image.
    pub as_index: bool,
    /// Delete the layer blobs afterwards, leaving a shallow layout.
    pub sparse: bool,
    /// SOURCE_ANNOTATION on the index.json entry.
    pub source: Option<&'a str>,
}

impl Default for BaseSpec<'_> {
    fn default() -> Self {
        BaseSpec {
            family: Family::Oci,
            architecture: "amd64",
            env: &["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            as_index: false,
            sparse: false,
            source: None,
        }
    }
}

/// Writes a base image layout at `root` with one layer holding `etc/base-release`, and returns
/// its manifest digest (the one for amd64 when `as_index`).
pub fn make_base(root: &Path, spec: &BaseSpec) -> Digest {
    let scratch = tempfile::tempdir().unwrap();
    let writer = LayoutWriter::create(root).unwrap();
    let image = |architecture: &str, tag: &str| -> (Digest, usize) {
        let layer = make_layer(
            scratch.path(),
            architecture,
            &[("etc/base-release", tag)],
            Compression::Gzip,
        );
        writer.put_blob_file(&layer.blob, &layer.digest()).unwrap();
        let config = json!({
            "architecture": architecture, "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "container_config": {"Hostname": "builder"},
            "config": {"Env": spec.env, "Cmd": ["/bin/sh"], "Labels": {"base": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": [layer.json["diffId"]]},
            "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "base layer"}],
        });
        let config_bytes = to_canonical_json(&config).unwrap();
        let config_digest = writer.put_blob_bytes(&config_bytes).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": spec.family.manifest(),
            "config": {"mediaType": spec.family.config(), "digest": config_digest, "size": config_bytes.len()},
            "layers": [{
                "mediaType": spec.family.layer(Compression::Gzip).unwrap(),
                "digest": layer.json["digest"], "size": layer.json["size"],
                "annotations": {"org.example.kept": "verbatim"},
            }],
        });
        let bytes = to_canonical_json(&manifest).unwrap();
        (writer.put_blob_bytes(&bytes).unwrap(), bytes.len())
    };
    let (amd64, amd64_size) = image(spec.architecture, "base");
    let mut annotations = json!({REF_NAME_ANNOTATION: "base"});
    if let Some(source) = spec.source {
        annotations[SOURCE_ANNOTATION] = json!(source);
    }
    let entry = if spec.as_index {
        let (arm64, arm64_size) = image("arm64", "arm");
        let index = json!({
            "schemaVersion": 2,
            "mediaType": spec.family.index(),
            "manifests": [
                {"mediaType": spec.family.manifest(), "digest": arm64, "size": arm64_size,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": spec.family.manifest(), "digest": amd64, "size": amd64_size,
                 "platform": {"os": "linux", "architecture": "amd64"}},
            ],
        });
        let bytes = to_canonical_json(&index).unwrap();
        let digest = writer.put_blob_bytes(&bytes).unwrap();
        json!({"mediaType": spec.family.index(), "digest": digest, "size": bytes.len(), "annotations": annotations})
    } else {
        json!({"mediaType": spec.family.manifest(), "digest": amd64, "size": amd64_size, "annotations": annotations})
    };
    writer
        .finish(vec![serde_json::from_value(entry).unwrap()])
        .unwrap();
    if spec.sparse {
        for layer in base_layer_digests(root) {
            fs::remove_file(root.join("blobs/sha256").join(layer.hex())).unwrap();
        }
    }
    amd64
}

/// Digests of every gzip layer blob any manifest of the layout references.
fn base_layer_digests(root: &Path) -> Vec<Digest> {
    let mut digests = Vec::new();
    for entry in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        if let Ok(manifest) = serde_json::from_slice::<Value>(&bytes) {
            for layer in manifest["layers"].as_array().into_iter().flatten() {
                digests.push(Digest::parse(layer["digest"].as_str().unwrap()).unwrap());
            }
        }
    }
    digests
}

/// Runs sematic-image with `args`.
pub fn run(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Runs and expects success; returns stderr.
pub fn run_ok(args: &[String]) -> String {
    let output = run(args);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "sematic-image {args:?} failed: {stderr}"
    );
    stderr
}

/// Runs and expects a one-line error containing every `expected` part.
pub fn run_fails(args: &[String], expected: &[&str]) -> String {
    let output = run(args);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.starts_with("sematic-image: error: ") && stderr.trim_end().lines().count() == 1,
        "not a one-line error: {stderr:?}"
    );
    for part in expected {
        assert!(stderr.contains(part), "{stderr:?} lacks {part:?}");
    }
    stderr
}

/// Reads a blob of a layout as JSON.
pub fn blob_json(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// index.json, the manifest it names and that manifest's config.
pub fn read_image(layout: &Path) -> (Value, Value, Value) {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = blob_json(layout, index["manifests"][0]["digest"].as_str().unwrap());
    let config = blob_json(layout, manifest["config"]["digest"].as_str().unwrap());
    (index, manifest, config)
}

/// Every file under `dir` with its content, for byte-for-byte comparisons of layouts.
pub fn tree_contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((
                    path.strip_prefix(dir).unwrap().to_owned(),
                    fs::read(&path).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

/// Each of `args` as an owned argument.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// umoci must unpack the layout (it validates manifest, config, diff_ids and layer bytes).
pub fn umoci_unpack(layout: &Path, bundle: &Path) {
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
