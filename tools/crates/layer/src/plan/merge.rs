//! The same path given twice: identical duplicates and implied directories merge, anything
//! else is a conflict naming both entries.

use std::collections::btree_map::Entry as Slot;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use super::{Node, Plan, Planned, FILE_MODE, READ_BUFFER};
use crate::error::{Context, Error, Result};

impl Plan {
    /// implied directories are fine, anything else is a conflict.
    pub(super) fn insert(&mut self, name: &str, node: Node, origin: Option<u32>) -> Result<()> {
        let slot = match self.nodes.entry(name.to_owned()) {
            Slot::Vacant(slot) => {
                slot.insert(Planned { node, origin });
                return Ok(());
            }
            Slot::Occupied(slot) => slot.into_mut(),
        };
        let earlier = slot
            .origin
            .and_then(|index| self.labels.get(index as usize))
            .map_or_else(|| "an implied parent directory".to_owned(), Clone::clone);
        match (&slot.node, &node) {
            (
                Node::Dir {
                    explicit: false, ..
                },
                Node::Dir { .. },
            ) => *slot = Planned { node, origin },
            (
                Node::Dir { .. },
                Node::Dir {
                    explicit: false, ..
                },
            ) => {}
            (Node::Dir { mode: a, .. }, Node::Dir { mode: b, .. }) => {
                if a != b {
                    return Err(Error::Entries(format!(
                        "/{name} is given twice as a directory with different modes ({a:o} in {earlier}, {b:o} here): keep one",
                    )));
                }
            }
            (Node::Symlink { target: a }, Node::Symlink { target: b }) => {
                if a != b {
                    return Err(Error::Entries(format!(
                        "/{name} is given twice as symlinks to different targets ({a:?} in {earlier}, {b:?} here): keep one",
                    )));
                }
            }
            (old, new) if old.describe() == new.describe() => {
                if !same_file(old, new)? {
                    return Err(Error::Entries(format!(
                        "/{name} is given twice with different content or mode (also in {earlier}): keep one",
                    )));
                }
            }
            (old, new) => {
                return Err(Error::Entries(format!(
                    "/{name} is given twice, as {} in {earlier} and as {} here: keep one",
                    old.describe(),
                    new.describe()
                )))
            }
        }
        Ok(())
    }
}

/// Whether two regular-file nodes produce identical tar entries.
fn same_file(a: &Node, b: &Node) -> Result<bool> {
    let (mode_a, source_a) = file_parts(a);
    let (mode_b, source_b) = file_parts(b);
    if mode_a != mode_b {
        return Ok(false);
    }
    match (source_a, source_b) {
        (None, None) => Ok(true),
        (Some(source), None) | (None, Some(source)) => Ok(file_len(source)? == 0),
        (Some(a), Some(b)) => same_content(a, b),
    }
}

fn file_parts(node: &Node) -> (u32, Option<&Path>) {
    match node {
        Node::File { source, mode } => (*mode, Some(source.as_path())),
        _ => (FILE_MODE, None),
    }
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// Compares two files byte by byte (only ever needed for duplicated paths).
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let canonical =
        |p: &Path| fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()));
    if canonical(a)? == canonical(b)? {
        return Ok(true);
    }
    if file_len(a)? != file_len(b)? {
        return Ok(false);
    }
    let open = |p: &Path| {
        File::open(p)
            .map(|f| BufReader::with_capacity(READ_BUFFER, f))
            .with_context(|| format!("opening {}", p.display()))
    };
    let (mut a_reader, mut b_reader) = (open(a)?, open(b)?);
    let mut a_buf = vec![0u8; 64 << 10];
    let mut b_buf = vec![0u8; 64 << 10];
    loop {
        let read = a_reader
            .read(&mut a_buf)
            .with_context(|| format!("reading {}", a.display()))?;
        if read == 0 {
            return Ok(true);
        }
        b_reader
            .read_exact(&mut b_buf[..read])
            .with_context(|| format!("reading {}", b.display()))?;
        if a_buf[..read] != b_buf[..read] {
            return Ok(false);
        }
    }
}
