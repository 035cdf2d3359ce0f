//! Turning manifest entries into nodes: sources checked against their kind, tree artifacts
//! walked.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{implied_dir, Node, Plan, DIR_MODE, EXECUTABLE_MODE, FILE_MODE};
use crate::error::{Context, Error, Result};
use crate::manifest::{Entry, Kind};
use crate::symlink::check_symlink_target;

impl Plan {
    pub(super) fn add_entry(
        &mut self,
        entry: &Entry,
        origin: u32,
        symlink_root: Option<&str>,
    ) -> Result<()> {
        let name = &entry.path[1..];
        match &entry.kind {
            Kind::File { src, mode } => {
                let metadata = fs::metadata(src).with_context(|| missing_src(src))?;
                if metadata.is_dir() {
                    return Err(Error::Entries(format!(
                        "src {} is a source directory, whose files Bazel does not track: list them (glob([\"dir/**\"])) or use a filegroup",
                        src.display(),
                    )));
                }
                if !metadata.is_file() {
                    return Err(Error::Entries(format!(
                        "src {} is not a regular file",
                        src.display()
                    )));
                }
                let mode = mode.unwrap_or_else(|| default_file_mode(&metadata));
                self.insert(
                    name,
                    Node::File {
                        source: src.clone(),
                        mode,
                    },
                    Some(origin),
                )
            }
            Kind::Empty => self.insert(name, Node::Empty, Some(origin)),
            Kind::Dir { mode } => self.insert(
                name,
                Node::Dir {
                    mode: mode.unwrap_or(DIR_MODE),
                    explicit: true,
                },
                Some(origin),
            ),
            Kind::Symlink { target } => {
                check_symlink_target(&entry.path, target, symlink_root)?;
                self.insert(
                    name,
                    Node::Symlink {
                        target: target.clone(),
                    },
                    Some(origin),
                )
            }
            Kind::Link { src } => {
                let metadata = fs::symlink_metadata(src).with_context(|| missing_src(src))?;
                if !metadata.file_type().is_symlink() {
                    return Err(Error::Entries(format!(
                        "src {} is not a symlink: kind \"link\" is for declared symlink artifacts (ctx.actions.declare_symlink); use kind \"file\" for ordinary files",
                        src.display(),
                    )));
                }
                let target = fs::read_link(src)
                    .with_context(|| format!("reading symlink {}", src.display()))?;
                let target = target.to_str().ok_or_else(|| {
                    Error::Entries(format!(
                        "symlink {} has a target that is not valid UTF-8: {:?}",
                        src.display(),
                        target
                    ))
                })?;
                check_symlink_target(&entry.path, target, symlink_root)?;
                self.insert(
                    name,
                    Node::Symlink {
                        target: target.to_owned(),
                    },
                    Some(origin),
                )
            }
            Kind::Tree { src } => {
                let metadata = fs::metadata(src).with_context(|| missing_src(src))?;
                if !metadata.is_dir() {
                    return Err(Error::Entries(format!(
                        "src {} is not a directory: kind \"tree\" is for directory (tree) artifacts; use kind \"file\"",
                        src.display(),
                    )));
                }
                self.insert(name, implied_dir(), Some(origin))?;
                let mut ancestors = vec![(metadata.dev(), metadata.ino())];
                self.walk_tree(src, name, origin, &mut ancestors)
            }
        }
    }

    /// Adds everything below the directory `dir` under `name`, in sorted order, following
    /// symlinks (in a sandbox every file of a tree artifact is a symlink into the execroot).
    fn walk_tree(
        &mut self,
        dir: &Path,
        name: &str,
        origin: u32,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<()> {
        let mut children = fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|child| child.map(|c| c.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .with_context(|| format!("listing {}", dir.display()))?;
        children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for child in children {
            let source = dir.join(&child);
            let Some(child) = child.to_str() else {
                return Err(Error::Entries(format!(
                    "{} has a name that is not valid UTF-8 ({:?}): rename it, image paths must be UTF-8",
                    source.display(),
                    child
                )));
            };
            let child_name = format!("{name}/{child}");
            let metadata = fs::metadata(&source).with_context(|| {
                format!(
                    "reading {} (a dangling symlink?): every file of a tree must exist",
                    source.display()
                )
            })?;
            if metadata.is_dir() {
                let id = (metadata.dev(), metadata.ino());
                if ancestors.contains(&id) {
                    return Err(Error::Entries(format!(
                        "{} leads back to one of its parent directories (a symlink loop): remove the loop",
                        source.display(),
                    )));
                }
                self.insert(&child_name, implied_dir(), Some(origin))?;
                ancestors.push(id);
                self.walk_tree(&source, &child_name, origin, ancestors)?;
                ancestors.pop();
            } else if metadata.is_file() {
                let mode = default_file_mode(&metadata);
                self.insert(&child_name, Node::File { source, mode }, Some(origin))?;
            } else {
                return Err(Error::Entries(format!(
                    "{} is neither a regular file nor a directory: trees may only hold files and directories",
                    source.display(),
                )));
            }
        }
        Ok(())
    }
}

fn missing_src(src: &Path) -> String {
    format!(
        "src {} does not exist: check the path (relative to the execroot) and that the action declares it as an input",
        src.display()
    )
}

/// 0755 for owner-executable sources, 0644 otherwise: the only bit of the host's mode that
/// matters (Bazel marks executables), so the host's umask never reaches the layer.
fn default_file_mode(metadata: &fs::Metadata) -> u32 {
    if metadata.permissions().mode() & 0o100 != 0 {
        EXECUTABLE_MODE
    } else {
        FILE_MODE
    }
}
