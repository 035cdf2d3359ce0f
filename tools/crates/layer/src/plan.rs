//! The sorted, validated list of everything a manifest puts in a layer, built before any byte
//! is written: tree artifacts walked ([`entry`]), duplicates merged and conflicts rejected
//! ([`merge`]), escaping symlinks rejected ([`crate::symlink`]), missing parent directories
//! added; then written in one pass ([`write`]), whole or split by file into parts ([`split`]).
//!
//! Memory is one small record per entry (name, source path, mode); file contents are only read
//! while the tar stream is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Context, Error, Result};
use crate::manifest::Manifest;

mod entry;
mod merge;
mod split;
mod write;

/// Mode of directories nobody gave a mode to (parents, tree directories) and of executables.
const DIR_MODE: u32 = 0o755;
const EXECUTABLE_MODE: u32 = 0o755;
/// Mode of regular files that are not owner-executable, and of `empty` entries.
const FILE_MODE: u32 = 0o644;
/// Read size for file contents: large reads keep the tar stream's per-call overhead low.
const READ_BUFFER: usize = 256 << 10;

/// What one path of the layer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// `explicit` is false for directories only implied by a path below them or by a tree; an
    /// explicit `dir` entry overrides their mode.
    Dir {
        mode: u32,
        explicit: bool,
    },
    File {
        source: PathBuf,
        mode: u32,
    },
    Empty,
    Symlink {
        target: String,
    },
}

impl Node {
    fn describe(&self) -> &'static str {
        match self {
            Node::Dir { .. } => "a directory",
            Node::File { .. } | Node::Empty => "a regular file",
            Node::Symlink { .. } => "a symlink",
        }
    }
}

#[derive(Clone, Debug)]
struct Planned {
    node: Node,
    /// `None` for implied parent directories.
    origin: Option<u32>,
}

/// Every path of a layer, sorted by name (byte order), names relative to `/`.
#[derive(Debug, Default)]
pub struct Plan {
    nodes: BTreeMap<String, Planned>,
    /// `entries[N] (PATH)` of every manifest entry, for error messages.
    labels: Vec<String>,
}

impl Plan {
    pub fn build(manifest: &Manifest) -> Result<Self> {
        let mut plan = Plan::default();
        for (index, entry) in manifest.entries.iter().enumerate() {
            let label = format!("entries[{index}] ({})", entry.path);
            let origin = u32::try_from(index).ok().context("too many entries")?;
            plan.labels.push(label.clone());
            plan.add_entry(entry, origin, manifest.symlink_root.as_deref())
                .with_context(|| label)?;
        }
        plan.add_parents()?;
        Ok(plan)
    }

    /// Keeps only what is at or below `root` (an absolute path): a piece of a layer, whose
    /// parent directories other pieces or the assembled layer provide. Entries the manifest put
    /// elsewhere are an error.
    pub fn restrict_to(&mut self, root: &str) -> Result<()> {
        let root = root
            .strip_prefix('/')
            .filter(|r| !r.is_empty() && !r.ends_with('/'))
            .with_context(|| {
                format!("--piece {root:?} is not an absolute path like /app/_ext/x")
            })?;
        let below = format!("{root}/");
        let mut outside = Vec::new();
        self.nodes.retain(|name, planned| {
            let inside = name == root || name.starts_with(&below);
            if !inside && planned.origin.is_some() {
                outside.push(name.clone());
            }
            inside
        });
        if let Some(name) = outside.first() {
            return Err(Error::Entries(format!(
                "/{name} is outside the piece's root /{root}: a piece holds one directory tree"
            )));
        }
        Ok(())
    }

    /// Names of the first and last nodes, if any.
    pub fn first_and_last(&self) -> Option<(&str, &str)> {
        let first = self.nodes.keys().next()?;
        let last = self.nodes.keys().next_back()?;
        Some((first, last))
    }

    fn describe_origin(&self, name: &str, origin: Option<u32>) -> String {
        match origin.and_then(|index| self.labels.get(index as usize)) {
            Some(label) if label.ends_with(&format!("(/{name})")) => label.clone(),
            Some(label) => format!("/{name} from {label}"),
            None => format!("parent directory /{name}"),
        }
    }

    /// Adds every missing parent directory and checks that every parent is a directory.
    fn add_parents(&mut self) -> Result<()> {
        let mut missing = BTreeSet::new();
        for (name, planned) in &self.nodes {
            let mut parent = name.as_str();
            while let Some(cut) = parent.rfind('/') {
                parent = &parent[..cut];
                match self.nodes.get(parent) {
                    Some(Planned {
                        node: Node::Dir { .. },
                        ..
                    }) => break,
                    Some(other) => {
                        return Err(Error::Entries(format!(
                            "{} needs /{parent} to be a directory, but {} makes it {}: move one of them",
                            self.describe_origin(name, planned.origin),
                            self.describe_origin(parent, other.origin),
                            other.node.describe(),
                        )))
                    }
                    None => {
                        if !missing.insert(parent.to_owned()) {
                            break;
                        }
                    }
                }
            }
        }
        for parent in missing {
            self.nodes.insert(
                parent,
                Planned {
                    node: implied_dir(),
                    origin: None,
                },
            );
        }
        Ok(())
    }
}

fn implied_dir() -> Node {
    Node::Dir {
        mode: DIR_MODE,
        explicit: false,
    }
}
