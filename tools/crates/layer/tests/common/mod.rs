//! Helpers shared by the integration tests: running the built binary, reading its outputs.

#![allow(dead_code)] // each test file uses a different subset

pub mod elf;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sematic-layer");

/// A scratch directory: inputs are created inside it, outputs go to `out/`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        Workspace { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, content: &[u8]) -> PathBuf {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    /// Writes ENTRIES.json from a JSON value.
    pub fn manifest(&self, name: &str, manifest: &Value) -> PathBuf {
        self.write(name, manifest.to_string().as_bytes())
    }

    /// Runs sematic-layer in the workspace with `args` plus `--output out/NAME.blob
    /// --descriptor out/NAME.json`.
    pub fn layer(&self, name: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(self.dir.path())
            .args(args)
            .args(["--output", &format!("out/{name}.blob")])
            .args(["--descriptor", &format!("out/{name}.json")])
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns (blob bytes, descriptor).
    pub fn layer_ok(&self, name: &str, args: &[&str]) -> (Vec<u8>, Value) {
        let output = self.layer(name, args);
        assert!(
            output.status.success(),
            "sematic-layer {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let blob = fs::read(self.path(&format!("out/{name}.blob"))).unwrap();
        let descriptor = fs::read(self.path(&format!("out/{name}.json"))).unwrap();
        (blob, serde_json::from_slice(&descriptor).unwrap())
    }

    /// Runs and expects failure with a single-line error containing every `expected` part and
    /// no file left in `out/`. Returns the message.
    pub fn layer_fails(&self, args: &[&str], expected: &[&str]) -> String {
        let output = self.layer("bad", args);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr.starts_with("sematic-layer: error: ") && stderr.trim_end().lines().count() == 1,
            "not a one-line error: {stderr:?}"
        );
        for part in expected {
            assert!(stderr.contains(part), "{stderr:?} lacks {part:?}");
        }
        let left: Vec<_> = fs::read_dir(self.path("out")).unwrap().collect();
        assert!(left.is_empty(), "outputs left behind: {left:?}");
        stderr
    }
}

/// sha256:<hex> of bytes, computed by the system's sha256sum (independent of our code).
pub fn sha256(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    fs::write(&path, bytes).unwrap();
    let output = Command::new("sha256sum").arg(&path).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// Decompresses with an external tool (`gzip -dc`, `zstd -dc`), which must be installed.
pub fn decompress(tool: &str, blob: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    fs::write(&path, blob).unwrap();
    let output = Command::new(tool)
        .args(["-dc"])
        .arg(&path)
        .output()
        .unwrap_or_else(|err| panic!("{tool} must be installed for this test: {err}"));
    assert!(
        output.status.success(),
        "{tool} -dc: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `tar -tv --numeric-owner` listing of an uncompressed tar, one line per entry.
pub fn tar_listing(tar: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.tar");
    fs::write(&path, tar).unwrap();
    let output = Command::new("tar")
        .args(["--numeric-owner", "--full-time", "-tvf"])
        .arg(&path)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tar -tvf: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Runs a Python snippet with `args`, returning stdout; python3 must be installed.
pub fn python(script: &str, args: &[&Path]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("python3 must be installed for this test: {err}"));
    assert!(
        output.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
