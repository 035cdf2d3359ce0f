//! The image most sematic-image tests write: one app layer, with the settings a py_binary's
//! image gets, on scratch or on a base.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{make_layer, strings, LayerFiles};
use sematic_oci_core::media_type::Compression;

/// The `created` time of every config and history entry: builds are reproducible.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// A temporary directory holding the app layer, where a test writes images by name.
pub struct AppFixture {
    pub dir: tempfile::TempDir,
    pub app: LayerFiles,
}

impl AppFixture {
    pub fn new() -> Self {
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
        AppFixture { dir, app }
    }

    /// `name` in the fixture directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `settings` as the image's settings file; returns its path.
    pub fn settings(&self, settings: &Value) -> String {
        let path = self.path("settings.json");
        fs::write(&path, settings.to_string()).unwrap();
        path.display().to_string()
    }

    /// Arguments writing to `out/NAME` and `NAME.digest`, plus `extra`.
    pub fn args(&self, name: &str, settings: &Value, extra: &[String]) -> Vec<String> {
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

    /// What image `NAME` wrote to `NAME.digest`.
    pub fn digest(&self, name: &str) -> String {
        fs::read_to_string(self.path(&format!("{name}.digest"))).unwrap()
    }
}

/// The settings of a py_binary's image: entrypoint, env, workdir, labels, one layer comment.
pub fn app_settings() -> Value {
    json!({
        "entrypoint": ["/usr/bin/python3", "/app/pkg/bin"], "cmd": null,
        "env": {"BAZEL_BUILT_IMAGE": "1", "PATH": "/sematic/bin:$PATH"},
        "workdir": "/app/pkg/bin.runfiles/_main", "user": null, "labels": {"team": "ml"},
        "layer_history": ["rules_sematic: app"],
    })
}

/// `--base-layout BASE` followed by a `--layer` for each of `layers`.
pub fn on_base(base: &Path, layers: &[&LayerFiles]) -> Vec<String> {
    let mut args = strings(&["--base-layout", &base.display().to_string()]);
    for layer in layers {
        args.extend(["--layer".to_owned(), layer.arg()]);
    }
    args
}
