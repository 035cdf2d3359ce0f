//! ENTRIES.json, the file list Starlark writes for one layer:
//!
//! ```json
//! {"symlink_root": "/app/pkg/bin.runfiles",
//!  "entries": [{"path": "/app/pkg/bin.runfiles/_main/pkg/x.py", "kind": "file", "src": "bazel-out/…/x.py"}, …]}
//! ```
//!
//! Kinds: `file` (content of `src`, symlinks followed; optional `mode`), `empty`, `dir`
//! (optional `mode`), `symlink` (`target`), `tree` (the directory `src`, walked), `link` (a
//! symlink whose target is readlink(`src`)). Modes are octal strings such as `"0755"`.
//! Everything is checked here, before a byte of the layer is written, and every error names the
//! entry as `entries[N] (PATH)`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use serde::Deserialize;

/// One parsed, syntactically valid entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute destination in the image, e.g. `/app/pkg/x.py`.
    pub path: String,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File { src: PathBuf, mode: Option<u32> },
    Empty,
    Dir { mode: Option<u32> },
    Symlink { target: String },
    Tree { src: PathBuf },
    Link { src: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Symlinks under this directory must resolve inside it (the runfiles tree).
    pub symlink_root: Option<String>,
    pub entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    symlink_root: Option<String>,
    entries: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    path: String,
    kind: String,
    #[serde(default)]
    src: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let raw: RawManifest = serde_json::from_str(text).context(
            "malformed manifest: expected {\"symlink_root\": …, \"entries\": [{\"path\": …, \"kind\": …}, …]}",
        )?;
        let symlink_root = raw
            .symlink_root
            .map(|root| {
                validate_destination(&root)
                    .with_context(|| format!("symlink_root {root:?}"))
                    .map(|()| root)
            })
            .transpose()?;
        let entries = raw
            .entries
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                let label = entry_label(index, &value);
                parse_entry(value).with_context(|| label)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Manifest {
            symlink_root,
            entries,
        })
    }
}

/// `entries[N] (PATH)`, or `entries[N]` when the entry has no usable path.
fn entry_label(index: usize, value: &serde_json::Value) -> String {
    match value.get("path").and_then(serde_json::Value::as_str) {
        Some(path) => format!("entries[{index}] ({path})"),
        None => format!("entries[{index}]"),
    }
}

fn parse_entry(value: serde_json::Value) -> Result<Entry> {
    let raw: RawEntry = serde_json::from_value(value).context(
        "malformed entry: expected {\"path\": …, \"kind\": …} with src, target or mode as the kind needs",
    )?;
    validate_destination(&raw.path)?;
    let RawEntry {
        path,
        kind,
        src,
        target,
        mode,
    } = raw;
    let allowed: &[&str] = match kind.as_str() {
        "file" => &["src", "mode"],
        "dir" => &["mode"],
        "empty" => &[],
        "symlink" => &["target"],
        "tree" | "link" => &["src"],
        other => {
            return Err(Error::Entries(format!(
                "unknown kind {other:?}: use one of file, empty, dir, symlink, tree, link"
            )))
        }
    };
    for (field, present) in [
        ("src", src.is_some()),
        ("target", target.is_some()),
        ("mode", mode.is_some()),
    ] {
        if present && !allowed.contains(&field) {
            return Err(Error::Entries(format!(
                "a {kind} entry takes no {field:?}: remove it"
            )));
        }
    }
    let need_src = || {
        src.clone()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::Entries(format!(
                    "a {kind} entry needs \"src\": add the input file's path"
                ))
            })
    };
    let mode = mode.as_deref().map(parse_mode).transpose()?;
    let kind = match kind.as_str() {
        "file" => Kind::File {
            src: need_src()?,
            mode,
        },
        "dir" => Kind::Dir { mode },
        "empty" => Kind::Empty,
        "symlink" => Kind::Symlink {
            target: target.ok_or_else(|| {
                Error::Entries("a symlink entry needs \"target\": add the link's target".into())
            })?,
        },
        "tree" => Kind::Tree { src: need_src()? },
        _ => Kind::Link { src: need_src()? },
    };
    Ok(Entry { path, kind })
}

/// Parses an octal mode such as `"0755"`. Only permission, setuid, setgid and sticky bits are
/// meaningful in a layer; anything else is a mistake worth reporting.
fn parse_mode(text: &str) -> Result<u32> {
    let mode = u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777);
    mode.ok_or_else(|| {
        Error::Entries(format!(
            "invalid mode {text:?}: use an octal string such as \"0755\""
        ))
    })
}

/// An image path must be absolute and normalised: `/a/b`, never `a/b`, `/a/`, `/a//b`,
/// `/a/./b` or `/a/../b`.
fn validate_destination(path: &str) -> Result<()> {
    let Some(relative) = path.strip_prefix('/') else {
        return Err(Error::Entries(format!(
            "path {path:?} is not absolute: start it with /"
        )));
    };
    if relative.is_empty() {
        return Err(Error::Entries(
            "path \"/\" is the image root, which every layer already has: remove the entry".into(),
        ));
    }
    if relative.ends_with('/') {
        return Err(Error::Entries(format!(
            "path {path:?} ends with /: remove the trailing slash"
        )));
    }
    if path.contains('\0') {
        return Err(Error::Entries(format!("path {path:?} contains a NUL byte")));
    }
    for component in relative.split('/') {
        if matches!(component, "" | "." | "..") {
            return Err(Error::Entries(format!(
                "path {path:?} has an empty, \".\" or \"..\" component: write the normalised absolute path",
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(entry: &str) -> Result<Entry> {
        let manifest = Manifest::parse(&format!(r#"{{"entries":[{entry}]}}"#))?;
        Ok(manifest.entries.into_iter().next().unwrap())
    }

    fn error(entry: &str) -> String {
        format!("{:#}", one(entry).unwrap_err())
    }

    #[test]
    fn every_kind_parses() {
        let manifest = Manifest::parse(
            r#"{"symlink_root": "/app/r", "entries": [
              {"path": "/a/x.py", "kind": "file", "src": "in/x.py"},
              {"path": "/a/bin", "kind": "file", "src": "in/bin", "mode": "0755"},
              {"path": "/d", "kind": "dir", "mode": "0777"},
              {"path": "/e", "kind": "empty"},
              {"path": "/l", "kind": "symlink", "target": "d"},
              {"path": "/t", "kind": "tree", "src": "in/t"},
              {"path": "/k", "kind": "link", "src": "in/k"}]}"#,
        )
        .unwrap();
        assert_eq!(manifest.symlink_root.as_deref(), Some("/app/r"));
        let kinds: Vec<Kind> = manifest.entries.into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::File {
                    src: "in/x.py".into(),
                    mode: None
                },
                Kind::File {
                    src: "in/bin".into(),
                    mode: Some(0o755)
                },
                Kind::Dir { mode: Some(0o777) },
                Kind::Empty,
                Kind::Symlink { target: "d".into() },
                Kind::Tree { src: "in/t".into() },
                Kind::Link { src: "in/k".into() },
            ]
        );
    }

    #[test]
    fn bad_destinations_name_the_entry_and_the_fix() {
        for (path, expected) in [
            ("a/b", "not absolute"),
            ("/a/", "trailing slash"),
            ("/a//b", "empty"),
            ("/a/./b", "normalised"),
            ("/a/../b", "normalised"),
            ("/", "image root"),
        ] {
            let err = error(&format!(r#"{{"path": "{path}", "kind": "empty"}}"#));
            assert!(
                err.starts_with(&format!("entries[0] ({path}): ")) && err.contains(expected),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn fields_must_fit_the_kind() {
        let err = error(r#"{"path": "/a", "kind": "socket"}"#);
        assert!(err.contains("unknown kind \"socket\""), "{err}");
        let err = error(r#"{"path": "/a", "kind": "file"}"#);
        assert!(err.contains("needs \"src\""), "{err}");
        let err = error(r#"{"path": "/a", "kind": "symlink", "target": "b", "mode": "0644"}"#);
        assert!(err.contains("takes no \"mode\""), "{err}");
        let err = error(r#"{"path": "/a", "kind": "dir", "mode": "rwx"}"#);
        assert!(err.contains("invalid mode \"rwx\""), "{err}");
        let err = error(r#"{"path": "/a", "kind": "dir", "mode": "17777"}"#);
        assert!(err.contains("invalid mode"), "{err}");
        let err = error(r#"{"path": "/a", "kind": "dir", "owner": "me"}"#);
        assert!(err.contains("entries[0] (/a): malformed entry"), "{err}");
    }

    #[test]
    fn malformed_json_is_one_clear_error() {
        let err = format!("{:#}", Manifest::parse("{\"entries\": [").unwrap_err());
        assert!(err.starts_with("malformed manifest"), "{err}");
        assert!(!err.contains('\n'));
        let err = format!(
            "{:#}",
            Manifest::parse(r#"{"entries": [], "symlink_root": "rel"}"#).unwrap_err()
        );
        assert!(err.contains("symlink_root \"rel\""), "{err}");
    }
}
