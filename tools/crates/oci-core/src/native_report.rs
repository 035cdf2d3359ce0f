//! REPORT.json: the native code (ELF files) of a layer or piece, written by sematic-layer while
//! it streams the files into the tar, and checked by sematic-image against the image's platform
//! and its base's C library, so that a wheel for another CPU or a newer glibc fails the build
//! instead of the job in the cluster.
//!
//! ```json
//! {"elf":[{"glibc":"2.17","kind":"dyn","libc":"glibc","machine":"x86_64",
//!   "needed":["libc.so.6","libm.so.6"],"path":"/app/_ext/foo-1.0-0123456789ab/site/foo/_x.so"}]}
//! ```
//!
//! One record per regular file whose content starts with `\x7fELF`, sorted by `path` (the file's
//! absolute path in the image):
//!
//! - `machine`: the CPU as `uname -m` names it (`x86_64`, `aarch64`, `i386`, `arm`); a known CPU
//!   in an unusual class or byte order adds it (`x86_64 (32-bit little-endian)`, the x32 ABI),
//!   others are `e_machine N`, and `unknown` when the header is unreadable.
//! - `kind`: the ELF type, `rel`, `exec`, `dyn`, `core`, `none` or `other` (OS- or
//!   processor-specific), or `invalid` for a file too short or malformed to read (wheels ship odd
//!   files; that is not an error).
//! - `libc`: `musl` when a `DT_NEEDED` entry starts with `libc.musl-` or the interpreter is
//!   `/lib/ld-musl-*`, `glibc` when it needs a `GLIBC_*` symbol version or `libc.so.6`, else
//!   `none`.
//! - `glibc`: the highest `GLIBC_x.y[.z]` symbol version it needs (`GLIBC_ABI_DT_RELR` counts as
//!   2.36, the release that introduced it; `GLIBC_PRIVATE` is ignored), or `null`.
//! - `needed`: its `DT_NEEDED` entries, in file order.
//! - `rpath`, `runpath`: the directories of its `DT_RPATH` and `DT_RUNPATH` entries, in order,
//!   unexpanded (`$ORIGIN/../lib`); left out when empty. With them sematic-image finds where the
//!   loader will look for each needed library.
//!
//! The file is canonical JSON: the same layer inputs give the same bytes.

use std::cmp::Ordering;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::canonical::to_canonical_json;
use crate::error::{Context, Error, Result};
use crate::fsutil::AtomicFile;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeReport {
    pub elf: Vec<ElfFacts>,
}

/// What one ELF file needs from the machine and the C library it runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElfFacts {
    pub path: String,
    pub machine: String,
    pub kind: ElfKind,
    pub libc: Libc,
    pub glibc: Option<Version>,
    pub needed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rpath: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runpath: Vec<String>,
}

/// The ELF type (`e_type`), or `Invalid` for a file that cannot be read as ELF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElfKind {
    None,
    Rel,
    Exec,
    Dyn,
    Core,
    Other,
    Invalid,
}

/// The C library an ELF file is linked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    Glibc,
    Musl,
    None,
}

impl NativeReport {
    /// Reads and validates a report file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a native code report: pass the REPORT.json sematic-layer --native-report wrote",
                path.display()
            )
        })
    }

    /// The report as canonical JSON sorted by path, in a temporary file next to `path` that the
    /// caller commits once the layer's blob is in place.
    pub fn prepare(mut self, path: &Path) -> Result<AtomicFile> {
        self.elf.sort_by(|a, b| a.path.cmp(&b.path));
        let mut file = AtomicFile::create(path)?;
        file.write_all(&to_canonical_json(&self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(file)
    }
}

/// The CPUs images are built for, as (`e_machine`, ELF64, name, OCI architecture): the name
/// is the one `uname -m` gives, and each is little-endian.
const MACHINES: [(u16, bool, &str, &str); 4] = [
    (3, false, "i386", "386"),
    (40, false, "arm", "arm"),
    (62, true, "x86_64", "amd64"),
    (183, true, "aarch64", "arm64"),
];

/// The `machine` of a report for an ELF header's `e_machine`, class and byte order.
pub fn machine_name(e_machine: u16, elf64: bool, little_endian: bool) -> String {
    let Some(&(_, usual_class, name, _)) = MACHINES.iter().find(|m| m.0 == e_machine) else {
        return format!("e_machine {e_machine}");
    };
    if usual_class == elf64 && little_endian {
        return name.to_owned();
    }
    let bits = if elf64 { 64 } else { 32 };
    let order = if little_endian { "little" } else { "big" };
    format!("{name} ({bits}-bit {order}-endian)")
}

/// The `machine` native code must have to run on an OCI architecture (`amd64` → `x86_64`).
pub fn machine_of_architecture(architecture: &str) -> Option<&'static str> {
    MACHINES
        .iter()
        .find(|m| m.3 == architecture)
        .map(|&(_, _, name, _)| name)
}

/// The OCI architectures [`machine_of_architecture`] knows, for messages.
pub fn known_architectures() -> impl Iterator<Item = &'static str> {
    MACHINES.iter().map(|&(_, _, _, architecture)| architecture)
}

/// A dotted numeric version (`2.17`, `2.2.5`), compared component by component as numbers
/// (2.9 < 2.17), missing components counting as 0.
#[derive(Clone, Debug)]
pub struct Version(Vec<u32>);

impl Version {
    pub fn components(&self) -> &[u32] {
        &self.0
    }
}

impl FromStr for Version {
    type Err = Error;

    /// Strict: decimal components without signs, spaces or leading zeros, separated by dots.
    fn from_str(text: &str) -> Result<Self> {
        let component = |part: &str| -> Option<u32> {
            let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let leading_zero = part.len() > 1 && part.starts_with('0');
            if digits && !leading_zero {
                part.parse().ok()
            } else {
                None
            }
        };
        match text.split('.').map(component).collect::<Option<Vec<_>>>() {
            Some(components) => Ok(Version(components)),
            None => Err(Error::Invalid(format!(
                "{text:?} is not a version like 2.17"
            ))),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let length = self.0.len().max(other.0.len());
        let at = |v: &Version, i: usize| v.0.get(i).copied().unwrap_or(0);
        (0..length)
            .map(|i| at(self, i).cmp(&at(other, i)))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn versions_compare_numerically_and_parse_strictly() {
        assert!(version("2.9") < version("2.17"));
        assert!(version("2.2.5") < version("2.3"));
        assert!(version("2.17") == version("2.17.0"));
        assert_eq!(version("2.2.5").to_string(), "2.2.5");
        for bad in [
            "",
            "2.",
            ".2",
            "2..3",
            "2.x",
            " 2.3",
            "+2.3",
            "2.03",
            "99999999999",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn machines_are_named_by_cpu_class_and_byte_order() {
        assert_eq!(machine_name(62, true, true), "x86_64");
        assert_eq!(machine_name(183, true, true), "aarch64");
        assert_eq!(machine_name(3, false, true), "i386");
        assert_eq!(machine_name(40, false, true), "arm");
        assert_eq!(
            machine_name(62, false, true),
            "x86_64 (32-bit little-endian)"
        );
        assert_eq!(
            machine_name(183, true, false),
            "aarch64 (64-bit big-endian)"
        );
        assert_eq!(machine_name(243, true, true), "e_machine 243");
        assert_eq!(machine_of_architecture("amd64"), Some("x86_64"));
        assert_eq!(machine_of_architecture("arm64"), Some("aarch64"));
        assert_eq!(machine_of_architecture("riscv64"), None);
    }

    #[test]
    fn reports_are_sorted_canonical_and_strict() {
        let facts = |path: &str| ElfFacts {
            path: path.to_owned(),
            machine: "x86_64".to_owned(),
            kind: ElfKind::Dyn,
            libc: Libc::Glibc,
            glibc: Some(version("2.17")),
            needed: vec!["libc.so.6".to_owned()],
            rpath: Vec::new(),
            runpath: Vec::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let report = NativeReport {
            elf: vec![facts("/b.so"), facts("/a.so")],
        };
        report.prepare(&path).unwrap().commit().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let record = |p: &str| {
            format!(
                r#"{{"glibc":"2.17","kind":"dyn","libc":"glibc","machine":"x86_64","needed":["libc.so.6"],"path":"{p}"}}"#
            )
        };
        assert_eq!(
            text,
            format!(r#"{{"elf":[{},{}]}}"#, record("/a.so"), record("/b.so"))
        );
        assert_eq!(NativeReport::read(&path).unwrap().elf[0], facts("/a.so"));

        for bad in [
            r#"{"elf":[],"extra":1}"#,
            &text.replace("\"dyn\"", "\"shared\""),
            &text.replace("\"2.17\"", "\"2.x\""),
        ] {
            fs::write(&path, bad).unwrap();
            let err = format!("{:#}", NativeReport::read(&path).unwrap_err());
            assert!(err.contains("is not a native code report"), "{err}");
        }
    }
}
