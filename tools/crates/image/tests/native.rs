//! sematic-image --native-report, --libc and --python-version: native code that cannot run on
//! the image, or wheels for another Python, fail the build before anything is written.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{make_base, make_layer, read_image, run_fails, run_ok, BaseSpec, LayerFiles};
use sematic_oci_core::media_type::Compression;
use serde_json::{json, Value};

const FOO: &str = "/app/_ext/foo-1.0-0123456789ab/site/foo";

struct Fixture {
    dir: tempfile::TempDir,
    layer: LayerFiles,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layer = make_layer(dir.path(), "app", &[("app/x.py", "x\n")], Compression::Gzip);
        fs::write(
            dir.path().join("settings.json"),
            json!({"layer_history": ["app"]}).to_string(),
        )
        .unwrap();
        Fixture { dir, layer }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes REPORT.json `name` listing `records` and returns its path.
    fn report(&self, name: &str, records: &[Value]) -> String {
        let path = self.path(name);
        fs::write(&path, json!({"elf": records}).to_string()).unwrap();
        path.display().to_string()
    }

    /// A base layout whose config has `env`.
    fn base(&self, name: &str, env: &[&str]) -> String {
        let path = self.path(name);
        make_base(
            &path,
            &BaseSpec {
                env,
                ..BaseSpec::default()
            },
        );
        path.display().to_string()
    }

    /// The arguments of an image `out/NAME` with the fixture's layer, plus `extra`.
    fn args(&self, name: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--config-json".into(),
            self.path("settings.json").display().to_string(),
            "--output-layout".into(),
            self.path(&format!("out/{name}")).display().to_string(),
            "--digest-file".into(),
            self.path(&format!("{name}.digest")).display().to_string(),
            "--layer".into(),
            self.layer.arg(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args
    }

    /// Runs and expects exactly `message`, with no layout or digest written.
    fn fails(&self, extra: &[&str], message: &str) {
        let stderr = run_fails(&self.args("bad", extra), &[message]);
        assert_eq!(
            stderr.trim_end(),
            format!("sematic-image: error: {message}")
        );
        assert!(!self.path("out/bad").exists() && !self.path("bad.digest").exists());
    }
}

fn elf(path: &str, machine: &str, kind: &str, libc: &str, glibc: Option<&str>) -> Value {
    json!({"path": path, "machine": machine, "kind": kind, "libc": libc, "glibc": glibc,
           "needed": if libc == "musl" { vec!["libc.musl-x86_64.so.1"] } else { vec!["libc.so.6"] }})
}

#[test]
fn native_code_for_another_cpu_fails_naming_the_distribution() {
    let fx = Fixture::new();
    let mixed = fx.report(
        "mixed.json",
        &[
            elf(
                &format!("{FOO}/_x.so"),
                "x86_64",
                "dyn",
                "glibc",
                Some("2.17"),
            ),
            elf(
                &format!("{FOO}/_y.so"),
                "aarch64",
                "dyn",
                "glibc",
                Some("2.17"),
            ),
            elf(
                &format!("{FOO}/_z.so"),
                "aarch64",
                "dyn",
                "glibc",
                Some("2.17"),
            ),
            // Objects, core dumps and unreadable files are never loaded: not checked.
            elf(&format!("{FOO}/a.o"), "aarch64", "rel", "none", None),
            elf(
                &format!("{FOO}/core"),
                "e_machine 243",
                "core",
                "none",
                None,
            ),
            elf(&format!("{FOO}/odd"), "unknown", "invalid", "none", None),
        ],
    );
    let tool = fx.report(
        "tool.json",
        &[elf(
            "/usr/local/bin/tool",
            "x86_64",
            "exec",
            "glibc",
            Some("2.17"),
        )],
    );
    fx.fails(
        &["--native-report", &tool, "--native-report", &mixed],
        &format!("native code for another CPU: {FOO}/_y.so (foo 1.0) is an aarch64 ELF but the image is linux/amd64 (and 1 more file): the wheel was built for another platform; pin a version with a wheel for linux/amd64"),
    );
    fx.fails(
        &["--native-report", &tool, "--platform", "linux/arm64"],
        "native code for another CPU: /usr/local/bin/tool is an x86_64 ELF but the image is linux/arm64: the wheel was built for another platform; pin a version with a wheel for linux/arm64",
    );
    fx.fails(
        &["--native-report", &tool, "--platform", "linux/riscv64"],
        "cannot check native code for linux/riscv64: sematic-image knows the CPUs of linux/386, linux/arm, linux/amd64, linux/arm64 only; build for one of them or leave out --native-report",
    );
    let arm = fx.report(
        "arm.json",
        &[elf(
            &format!("{FOO}/_y.so"),
            "aarch64",
            "dyn",
            "glibc",
            Some("2.17"),
        )],
    );
    run_ok(&fx.args(
        "arm",
        &["--native-report", &arm, "--platform", "linux/arm64"],
    ));
    run_ok(&fx.args("amd", &["--native-report", &tool]));
    assert!(fx.path("out/amd/index.json").exists() && fx.path("amd.digest").exists());
}

#[test]
fn native_code_needing_a_newer_glibc_than_the_base_fails_worst_first() {
    let fx = Fixture::new();
    let files = [
        elf(
            &format!("{FOO}/a.so"),
            "x86_64",
            "dyn",
            "glibc",
            Some("2.17"),
        ),
        elf(
            &format!("{FOO}/b.so"),
            "x86_64",
            "dyn",
            "glibc",
            Some("2.32"),
        ),
        elf(
            &format!("{FOO}/c.so"),
            "x86_64",
            "exec",
            "glibc",
            Some("2.34"),
        ),
        elf(&format!("{FOO}/d.so"), "x86_64", "dyn", "none", None),
        elf("/usr/lib/libnew.so", "x86_64", "dyn", "glibc", Some("2.9")),
    ];
    let report = fx.report("report.json", &files);
    fx.fails(
        &["--native-report", &report, "--libc", "glibc 2.31"],
        &format!("native code needs a newer glibc than the base: {FOO}/c.so (foo 1.0) needs GLIBC_2.34 but the base has glibc 2.31 (and 1 more file): use a base with glibc 2.34 or newer, or pin a version of foo built for manylinux_2_31 or older"),
    );
    // 2.9 < 2.17: versions compare as numbers.
    fx.fails(
        &["--native-report", &report, "--libc", "glibc 2.8"],
        &format!("native code needs a newer glibc than the base: {FOO}/c.so (foo 1.0) needs GLIBC_2.34 but the base has glibc 2.8 (and 3 more files): use a base with glibc 2.34 or newer, or pin a version of foo built for manylinux_2_8 or older"),
    );
    let outside = fx.report("outside.json", &files[4..]);
    fx.fails(
        &["--native-report", &outside, "--libc", "glibc 2.5"],
        "native code needs a newer glibc than the base: /usr/lib/libnew.so needs GLIBC_2.9 but the base has glibc 2.5: use a base with glibc 2.9 or newer, or build it against glibc 2.5 or older",
    );
    run_ok(&fx.args("new", &["--native-report", &report, "--libc", "glibc 2.34"]));
    // Without --libc only the CPU is checked.
    run_ok(&fx.args("any", &["--native-report", &report]));
}

#[test]
fn native_code_for_another_c_library_fails_naming_both() {
    let fx = Fixture::new();
    let musl = fx.report(
        "musl.json",
        &[elf(&format!("{FOO}/_m.so"), "x86_64", "dyn", "musl", None)],
    );
    let glibc = fx.report(
        "glibc.json",
        &[elf(
            &format!("{FOO}/_g.so"),
            "x86_64",
            "dyn",
            "glibc",
            Some("2.17"),
        )],
    );
    fx.fails(
        &["--native-report", &musl, "--libc", "glibc 2.36"],
        &format!("native code for another C library: {FOO}/_m.so (foo 1.0) is linked against musl but the base has glibc 2.36: use a musl base, or pin a version of foo with a manylinux wheel"),
    );
    fx.fails(
        &["--native-report", &glibc, "--libc", "musl 1.2"],
        &format!("native code for another C library: {FOO}/_g.so (foo 1.0) is linked against glibc but the base has musl 1.2: use a glibc base, or pin a version of foo with a musllinux wheel"),
    );
    run_ok(&fx.args("musl", &["--native-report", &musl, "--libc", "musl 1.2"]));
}

#[test]
fn the_base_python_must_be_the_wheels_python() {
    let fx = Fixture::new();
    let python = fx.base(
        "python",
        &["PATH=/usr/local/bin:/usr/bin", "PYTHON_VERSION=3.9.18"],
    );
    let plain = fx.base("plain", &["PATH=/usr/bin"]);
    fx.fails(
        &["--base-layout", &python, "--python-version", "3.12"],
        "the base's config says PYTHON_VERSION=3.9.18 but the image's wheels are for Python 3.12: set python_version = \"3.9\" (or use a base with Python 3.12)",
    );
    run_ok(&fx.args(
        "same",
        &["--base-layout", &python, "--python-version", "3.9"],
    ));
    run_ok(&fx.args(
        "unknown",
        &["--base-layout", &plain, "--python-version", "3.12"],
    ));
}

#[test]
fn malformed_flags_and_reports_are_one_line_errors() {
    let fx = Fixture::new();
    for libc in [
        "glibc",
        "glibc 2",
        "glibc 2.31.1",
        "musl",
        "bionic 1.0",
        "glibc  2.31",
    ] {
        run_fails(
            &fx.args("bad", &["--libc", libc]),
            &[
                "--libc",
                "expected \"glibc X.Y\" or \"musl X.Y\", e.g. \"glibc 2.31\"",
            ],
        );
    }
    for version in ["3", "3.12.1", "py3.12", "3.x"] {
        run_fails(
            &fx.args("bad", &["--python-version", version]),
            &[
                "--python-version",
                "expected a Python version X.Y, e.g. 3.11",
            ],
        );
    }
    let bad = fx.path("bad.json");
    fs::write(&bad, r#"{"elf": [{"path": "/x.so"}]}"#).unwrap();
    let bad = bad.display().to_string();
    run_fails(
        &fx.args("bad", &["--native-report", &bad]),
        &[&bad, "is not a native code report", "missing field"],
    );
    let missing = fx.path("missing.json").display().to_string();
    run_fails(
        &fx.args("bad", &["--native-report", &missing]),
        &["reading", "missing.json"],
    );
    assert!(!fx.path("out").exists());
}

#[test]
fn libraries_a_search_path_expects_in_another_site_are_put_on_the_library_path() {
    let fx = Fixture::new();
    let torch = "/app/_ext/torch-2.5.0-0123456789ab/site";
    let cusparse =
        "/app/_ext/nvidia-cusparse-cu12-12.3.1.170-abcdefabcdef/site/nvidia/cusparse/lib";
    let library = |path: String, needed: &[&str], rpath: &[&str]| {
        let mut record = elf(&path, "x86_64", "dyn", "glibc", Some("2.17"));
        record["needed"] = json!(needed);
        if !rpath.is_empty() {
            record["rpath"] = json!(rpath);
        }
        record
    };
    // Two reports, as two layers have them: torch's, and its nvidia wheel's.
    let torch_report = fx.report(
        "torch.json",
        &[library(
            format!("{torch}/torch/lib/libtorch_cuda.so"),
            &["libcusparse.so.12", "libc.so.6"],
            &["$ORIGIN/../../nvidia/cusparse/lib", "$ORIGIN"],
        )],
    );
    let nvidia_report = fx.report(
        "nvidia.json",
        &[library(
            format!("{cusparse}/libcusparse.so.12"),
            &["libc.so.6"],
            &[],
        )],
    );
    let base = fx.base("base", &["LD_LIBRARY_PATH=/usr/local/nvidia/lib64"]);
    let reports = [
        "--native-report",
        &torch_report,
        "--native-report",
        &nvidia_report,
    ];
    let mut args = vec!["--base-layout", &base];
    args.extend(reports);
    run_ok(&fx.args("torch", &args));
    let (_, _, config) = read_image(&fx.path("out/torch"));
    let env = config["config"]["Env"].as_array().unwrap();
    assert!(
        env.contains(&json!(format!(
            "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:{cusparse}"
        ))),
        "{env:?}"
    );
    // Without the nvidia wheel's report nothing is known to be missing: the config is the
    // base's.
    run_ok(&fx.args(
        "alone",
        &["--base-layout", &base, "--native-report", &torch_report],
    ));
    let (_, _, config) = read_image(&fx.path("out/alone"));
    assert_eq!(
        config["config"]["Env"],
        json!(["LD_LIBRARY_PATH=/usr/local/nvidia/lib64"])
    );
}
