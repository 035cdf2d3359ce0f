//! Checks made before an image is written, so that a wheel that cannot run in it fails the
//! build rather than the job in the cluster: every ELF executable and shared library of its
//! layers (from sematic-layer's native reports) must be for the image's CPU and its base's C
//! library, and the base's Python must be the one the wheels were chosen for.

use std::fmt;
use std::path::PathBuf;

use crate::env;
use crate::error::{Error, Result};
use sematic_oci_core::native_report::{
    known_architectures, machine_of_architecture, ElfFacts, ElfKind, Libc, NativeReport, Version,
};
use sematic_oci_core::platform::Platform;
use serde_json::Value;

/// Where third-party distributions are, as `<distribution>-<version>-<sha256 prefix>/`.
pub(crate) const EXTERNAL_ROOT: &str = "/app/_ext/";

/// The base image's C library, as `--libc` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseLibc {
    Glibc(Version),
    Musl(Version),
}

impl BaseLibc {
    /// `glibc X.Y` or `musl X.Y`, nothing else.
    pub fn parse(text: &str) -> Result<Self> {
        let version = |v: &str| {
            v.parse::<Version>()
                .ok()
                .filter(|v| v.components().len() == 2)
        };
        match text.split_once(' ') {
            Some(("glibc", v)) if version(v).is_some() => Ok(BaseLibc::Glibc(v.parse()?)),
            Some(("musl", v)) if version(v).is_some() => Ok(BaseLibc::Musl(v.parse()?)),
            _ => Err(Error::Arguments(
                "expected \"glibc X.Y\" or \"musl X.Y\", e.g. \"glibc 2.31\"".into(),
            )),
        }
    }
}

impl fmt::Display for BaseLibc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseLibc::Glibc(version) => write!(f, "glibc {version}"),
            BaseLibc::Musl(version) => write!(f, "musl {version}"),
        }
    }
}

/// A Python version as `--python-version` gives it: `X.Y`, nothing else.
pub fn parse_python_version(text: &str) -> Result<Version> {
    match text.parse::<Version>() {
        Ok(version) if version.components().len() == 2 => Ok(version),
        _ => Err(Error::Arguments(
            "expected a Python version X.Y, e.g. 3.11".into(),
        )),
    }
}

/// What the image's native code and wheels are checked against.
#[derive(Debug)]
pub struct NativeCheck {
    /// REPORT.json files of sematic-layer --native-report.
    pub reports: Vec<PathBuf>,
    /// The base's C library; without it only the CPU is checked.
    pub libc: Option<BaseLibc>,
    /// The Python the wheels are for, checked against the base's `PYTHON_VERSION`.
    pub python_version: Option<Version>,
}

impl NativeCheck {
    /// Fails with one line naming the worst offender when something cannot run on `platform`
    /// over the base whose config is `base_config`; else returns the reports' executables and
    /// shared libraries, sorted by path.
    pub fn run(&self, platform: &Platform, base_config: &Value) -> Result<Vec<ElfFacts>> {
        let mut files = Vec::new();
        for path in &self.reports {
            let report = NativeReport::read(path)?;
            // Only executables and shared libraries are ever loaded.
            let loadable = |f: &ElfFacts| matches!(f.kind, ElfKind::Exec | ElfKind::Dyn);
            files.extend(report.elf.into_iter().filter(loadable));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        check_cpu(&files, platform)?;
        if let Some(libc) = &self.libc {
            check_libc(&files, libc)?;
        }
        if let Some(version) = &self.python_version {
            check_python(base_config, version)?;
        }
        Ok(files)
    }
}

fn check_cpu(files: &[ElfFacts], platform: &Platform) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let Some(machine) = machine_of_architecture(&platform.architecture) else {
        let known: Vec<String> = known_architectures()
            .map(|a| format!("linux/{a}"))
            .collect();
        return Err(Error::Native(format!(
            "cannot check native code for {platform}: sematic-image knows the CPUs of {} only; build for one of them or leave out --native-report",
            known.join(", "),
        )));
    };
    let wrong: Vec<&ElfFacts> = files.iter().filter(|f| f.machine != machine).collect();
    if let Some(first) = wrong.first() {
        return Err(Error::Native(format!(
            "native code for another CPU: {} is an {} ELF but the image is {platform}{}: the wheel was built for another platform; pin a version with a wheel for {platform}",
            describe(&first.path),
            first.machine,
            and_more(wrong.len() - 1),
        )));
    }
    Ok(())
}

fn check_libc(files: &[ElfFacts], base: &BaseLibc) -> Result<()> {
    let (foreign, foreign_name, base_name, wheel) = match base {
        BaseLibc::Glibc(_) => (Libc::Musl, "musl", "glibc", "manylinux"),
        BaseLibc::Musl(_) => (Libc::Glibc, "glibc", "musl", "musllinux"),
    };
    let wrong: Vec<&ElfFacts> = files.iter().filter(|f| f.libc == foreign).collect();
    if let Some(first) = wrong.first() {
        let other = match distribution(&first.path) {
            Some((name, _)) => format!("pin a version of {name} with a {wheel} wheel"),
            None => format!("use a build of it for {base_name}"),
        };
        return Err(Error::Native(format!(
            "native code for another C library: {} is linked against {foreign_name} but the base has {base}{}: use a {foreign_name} base, or {other}",
            describe(&first.path),
            and_more(wrong.len() - 1),
        )));
    }
    let BaseLibc::Glibc(available) = base else {
        return Ok(());
    };
    let mut newer: Vec<(&Version, &str)> = files
        .iter()
        .filter_map(|f| Some((f.glibc.as_ref()?, f.path.as_str())))
        .filter(|(needed, _)| *needed > available)
        .collect();
    // The highest requirement first: a base that has it satisfies every other one too.
    newer.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(b.1)));
    let Some(&(needed, path)) = newer.first() else {
        return Ok(());
    };
    let manylinux = available
        .components()
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("_");
    let other = match distribution(path) {
        Some((name, _)) => {
            format!("pin a version of {name} built for manylinux_{manylinux} or older")
        }
        None => format!("build it against glibc {available} or older"),
    };
    Err(Error::Native(format!(
        "native code needs a newer glibc than the base: {} needs GLIBC_{needed} but the base has glibc {available}{}: use a base with glibc {needed} or newer, or {other}",
        describe(path),
        and_more(newer.len() - 1),
    )))
}

fn check_python(base_config: &Value, wheels: &Version) -> Result<()> {
    let Some(value) = env::config_value(base_config, "PYTHON_VERSION") else {
        return Ok(());
    };
    // `3.9.18`, `3.13.0rc2`: the first two components. A value that does not start with them
    // says nothing that can be checked.
    let mut parts = value.split('.');
    let base = match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => parse_python_version(&format!("{major}.{minor}")).ok(),
        _ => None,
    };
    match base {
        Some(base) if base != *wheels => Err(Error::Native(format!(
            "the base's config says PYTHON_VERSION={value} but the image's wheels are for Python {wheels}: set python_version = \"{base}\" (or use a base with Python {wheels})",
        ))),
        _ => Ok(()),
    }
}

/// `PATH (DISTRIBUTION VERSION)` for a file of a third-party distribution, else `PATH`.
fn describe(path: &str) -> String {
    match distribution(path) {
        Some((name, version)) => format!("{path} ({name} {version})"),
        None => path.to_owned(),
    }
}

/// The distribution and version of a path under `/app/_ext/<distribution>-<version>-<sha12>/`.
fn distribution(path: &str) -> Option<(&str, &str)> {
    let (key, _) = path.strip_prefix(EXTERNAL_ROOT)?.split_once('/')?;
    // Names may hold dashes; versions and hashes do not.
    let mut parts = key.rsplitn(3, '-');
    let (hash, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    let is_hash = hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hash && !version.is_empty() && !name.is_empty()).then_some((name, version))
}

fn and_more(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => " (and 1 more file)".to_owned(),
        n => format!(" (and {n} more files)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn libc_and_python_flags_parse_strictly() {
        assert_eq!(
            BaseLibc::parse("glibc 2.31").unwrap(),
            BaseLibc::Glibc("2.31".parse().unwrap())
        );
        assert_eq!(BaseLibc::parse("musl 1.2").unwrap().to_string(), "musl 1.2");
        for bad in [
            "glibc",
            "glibc 2",
            "glibc 2.31.1",
            "glibc  2.31",
            "GLIBC 2.31",
            "uclibc 1.0",
            "glibc 2.31 ",
        ] {
            let err = BaseLibc::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("\"glibc X.Y\" or \"musl X.Y\""),
                "{bad:?}: {err}"
            );
        }
        assert_eq!(parse_python_version("3.11").unwrap().to_string(), "3.11");
        for bad in ["3", "3.11.2", "py3.11", "3.x", ""] {
            assert!(parse_python_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn distributions_are_named_from_their_directory() {
        let path = "/app/_ext/nvidia-cublas-cu12-12.1.3.1-0123456789ab/site/x.so";
        assert_eq!(distribution(path), Some(("nvidia-cublas-cu12", "12.1.3.1")));
        assert_eq!(
            describe("/app/_ext/torch-2.3.0-abcdefabcdef/site/torch/lib/libc10.so"),
            "/app/_ext/torch-2.3.0-abcdefabcdef/site/torch/lib/libc10.so (torch 2.3.0)"
        );
        for other in [
            "/usr/lib/x.so",
            "/app/_ext/torch-2.3.0/x.so",
            "/app/_ext/torch-2.3.0-abcdefabcdef",
        ] {
            assert_eq!(distribution(other), None, "{other}");
        }
    }

    #[test]
    fn python_version_of_the_base() {
        let config = |env: Value| json!({"config": {"Env": env}});
        let v = |text: &str| parse_python_version(text).unwrap();
        check_python(&config(json!(["PYTHON_VERSION=3.11.9"])), &v("3.11")).unwrap();
        check_python(&config(json!(["PYTHON_VERSION=3.13.0rc2"])), &v("3.13")).unwrap();
        check_python(&config(json!(["PATH=/bin"])), &v("3.12")).unwrap();
        check_python(&json!({"config": null}), &v("3.12")).unwrap();
        check_python(&config(json!(["PYTHON_VERSION=unknown"])), &v("3.12")).unwrap();
        let err = check_python(
            &config(json!(["PYTHON_VERSION=3.12.1", "PYTHON_VERSION=3.9.18"])),
            &v("3.12"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the base's config says PYTHON_VERSION=3.9.18 but the image's wheels are for Python 3.12: set python_version = \"3.9\" (or use a base with Python 3.12)"
        );
    }
}
