//! `sematic-layer from-tar`: turns an existing rootfs tar (e.g. `mmdebstrap --variant=extract … out.tar`)
//! into a normalised layer.
//!
//! The input is indexed once (headers only; data is skipped by seeking), the index is sorted,
//! and file data is then copied straight from the input in sorted order, so no file content is
//! ever held in memory. Kept: numeric uid/gid, permission + setuid/setgid/sticky bits,
//! directories, symlinks (absolute targets too), hard links, character and block devices,
//! fifos. Dropped: user and group names, times, xattrs and every other PAX record, and the
//! entry for the root directory itself (`./`), which a layer cannot name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Context, Error, Result};
use tar::EntryType;

use sematic_oci_core::archive::{Owner, TarWriter};

/// Mode of parent directories the input lacks.
const DIR_MODE: u32 = 0o755;
/// Read size for copying file data out of the input.
const READ_BUFFER: usize = 256 << 10;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Data at `offset` in the input, `size` bytes long.
    File {
        offset: u64,
        size: u64,
    },
    /// A hard link to the entry named `target`, which carries the data.
    HardLink {
        target: Vec<u8>,
    },
    Symlink {
        target: Vec<u8>,
    },
    Dir,
    /// Character or block device, or fifo.
    Special {
        kind: EntryType,
        major: u32,
        minor: u32,
    },
}

#[derive(Clone, Debug)]
struct Record {
    kind: Kind,
    owner: Owner,
}

/// Writes the layer of the root filesystem tar at `rootfs` to `target`, both renamed into
/// place only when complete.
pub fn write(rootfs: &Path, target: &crate::from_manifest::Target) -> Result<()> {
    let mut index = RootfsIndex::open(rootfs)?;
    let mut stream = target.layer_stream()?;
    index.write(stream.tar())?;
    stream.finish()?.commit(target.descriptor)
}

/// The sorted index of a rootfs tar.
pub struct RootfsIndex {
    input: File,
    path: std::path::PathBuf,
    records: BTreeMap<Vec<u8>, Record>,
}

impl RootfsIndex {
    /// Reads every header of `path` and builds the normalised, sorted entry list.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        // An empty file reads as a tar without entries: it would quietly become an empty layer.
        let len = file.metadata().map_or(0, |meta| meta.len());
        if len == 0 {
            return Err(Error::Rootfs(format!(
                "{} is empty (0 bytes), not a tar archive: pass the rootfs tar itself",
                path.display()
            )));
        }
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut records: BTreeMap<Vec<u8>, Record> = BTreeMap::new();
        let entries = archive
            .entries_with_seek()
            .with_context(|| format!("reading {}", path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", path.display()))?;
            let raw_name = entry.path_bytes().into_owned();
            let label = || format!("{}: entry {:?}", path.display(), lossy(&raw_name));
            let Some((name, record)) =
                index_entry(&entry, &raw_name, &records).with_context(label)?
            else {
                continue;
            };
            match records.get(&name) {
                // A later directory entry re-states the same directory: it wins, as on extraction.
                Some(Record {
                    kind: Kind::Dir, ..
                }) if record.kind == Kind::Dir => {}
                Some(_) => {
                    return Err(Error::Rootfs(format!(
                        "{}: appears twice in the archive; a layer can hold each path once: remove the duplicate",
                        label(),
                    )))
                }
                None => {}
            }
            records.insert(name, record);
        }
        let input = archive.into_inner().into_inner();
        let mut index = RootfsIndex {
            input,
            path: path.to_owned(),
            records,
        };
        index.move_link_data_to_first_name();
        index.add_parents()?;
        Ok(index)
    }

    /// Writes every entry in sorted order, copying file data from the input.
    pub fn write<W: Write>(&mut self, tar: &mut TarWriter<W>) -> Result<()> {
        for (name, record) in &self.records {
            let context = || format!("{}: entry {:?}", self.path.display(), lossy(name));
            match &record.kind {
                Kind::Dir => tar.directory(name, record.owner)?,
                Kind::Symlink { target } => tar.symlink(name, target, record.owner)?,
                Kind::HardLink { target } => tar.hard_link(name, target, record.owner)?,
                Kind::Special { kind, major, minor } => {
                    tar.special(*kind, name, record.owner, *major, *minor)?
                }
                Kind::File { offset, size } => {
                    (&self.input)
                        .seek(SeekFrom::Start(*offset))
                        .with_context(context)?;
                    let content = BufReader::with_capacity(READ_BUFFER, (&self.input).take(*size));
                    tar.file(name, record.owner, *size, content)
                        .with_context(context)?;
                }
            }
        }
        Ok(())
    }

    /// Within each group of hard-linked names, the first in sorted order must carry the data
    /// (extraction creates the others as links to it), whatever order the input had.
    fn move_link_data_to_first_name(&mut self) {
        let mut groups: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for (name, record) in &self.records {
            if let Kind::HardLink { target } = &record.kind {
                groups.entry(target.clone()).or_default().push(name.clone());
            }
        }
        for (carrier, links) in groups {
            // `links` follow the BTreeMap's order, so the first is the smallest link name.
            let Some(first_link) = links.first().filter(|first| **first < carrier) else {
                continue;
            };
            let first_link = first_link.clone();
            let Some(data) = self.records.get(&carrier).cloned() else {
                continue;
            };
            for link in links.iter().chain(std::iter::once(&carrier)) {
                let record = if *link == first_link {
                    data.clone()
                } else {
                    Record {
                        kind: Kind::HardLink {
                            target: first_link.clone(),
                        },
                        owner: data.owner,
                    }
                };
                self.records.insert(link.clone(), record);
            }
        }
    }

    /// Adds directories the input implies but does not list, and checks that every parent is
    /// a directory.
    fn add_parents(&mut self) -> Result<()> {
        let mut missing = BTreeSet::new();
        for name in self.records.keys() {
            let mut parent = name.as_slice();
            while let Some(cut) = parent.iter().rposition(|&b| b == b'/') {
                parent = &parent[..cut];
                match self.records.get(parent) {
                    Some(Record {
                        kind: Kind::Dir, ..
                    }) => break,
                    Some(_) => {
                        return Err(Error::Rootfs(format!(
                            "{}: entry {:?} needs {:?} to be a directory, but the archive has another kind of entry there",
                            self.path.display(),
                            lossy(name),
                            lossy(parent),
                        )))
                    }
                    None => {
                        if !missing.insert(parent.to_vec()) {
                            break;
                        }
                    }
                }
            }
        }
        for parent in missing {
            self.records.insert(
                parent,
                Record {
                    kind: Kind::Dir,
                    owner: Owner::root(DIR_MODE),
                },
            );
        }
        Ok(())
    }
}

/// The normalised name and record of one input entry; `None` for entries a layer does not
/// keep (the root directory, PAX global headers).
fn index_entry<R: Read>(
    entry: &tar::Entry<'_, R>,
    raw_name: &[u8],
    records: &BTreeMap<Vec<u8>, Record>,
) -> Result<Option<(Vec<u8>, Record)>> {
    let header = entry.header();
    let kind = header.entry_type();
    if kind == EntryType::XGlobalHeader {
        return Ok(None);
    }
    let Some(name) = normalise(raw_name)? else {
        return Ok(None);
    };
    let owner = Owner {
        mode: header.mode().context("invalid mode")? & 0o7777,
        uid: header.uid().context("invalid uid")?,
        gid: header.gid().context("invalid gid")?,
    };
    let link_target = || {
        entry
            .link_name_bytes()
            .map(|target| target.into_owned())
            .filter(|target| !target.is_empty())
            .context("link without a target")
    };
    let kind = match kind {
        EntryType::Regular | EntryType::Continuous => Kind::File {
            offset: entry.raw_file_position(),
            size: entry.size(),
        },
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink {
            target: link_target()?,
        },
        EntryType::Link => {
            let target = normalise(&link_target()?)?.context("hard link to the root directory")?;
            // Links always point at the name that carries the data, never at another link.
            let target = match records.get(&target).map(|record| &record.kind) {
                Some(Kind::File { .. }) => target,
                Some(Kind::HardLink { target }) => target.clone(),
                Some(_) => {
                    return Err(Error::Rootfs(format!(
                        "hard link to {:?}, which is not a regular file: only regular files can be hard-linked in a layer",
                        lossy(&target),
                    )))
                }
                None => {
                    return Err(Error::Rootfs(format!(
                        "hard link to {:?}, which is not an earlier entry of the archive",
                        lossy(&target),
                    )))
                }
            };
            Kind::HardLink { target }
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let number = |value: io::Result<Option<u32>>| -> Result<u32> {
                Ok(value.context("invalid device number")?.unwrap_or(0))
            };
            let (major, minor) = if kind == EntryType::Fifo {
                (0, 0)
            } else {
                (number(header.device_major())?, number(header.device_minor())?)
            };
            Kind::Special { kind, major, minor }
        }
        EntryType::GNUSparse => return Err(Error::Rootfs("is a GNU sparse file, which layers cannot carry: recreate the archive without --sparse".into())),
        other => {
            return Err(Error::Rootfs(format!(
                "has unsupported tar entry type {:?}: layers hold files, directories, links, devices and fifos",
                char::from(other.as_byte()),
            )))
        }
    };
    Ok(Some((name, Record { kind, owner })))
}

/// `./usr//bin/` → `usr/bin`; the root (`./`, `/`) → `None`; `..` anywhere is an error.
fn normalise(raw: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut name = Vec::with_capacity(raw.len());
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                return Err(Error::Rootfs(format!(
                    "name {:?} has a \"..\" component, which could write outside the image root",
                    lossy(raw)
                )))
            }
            _ => {
                if !name.is_empty() {
                    name.push(b'/');
                }
                name.extend_from_slice(component);
            }
        }
    }
    Ok((!name.is_empty()).then_some(name))
}

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        let n = |raw: &str| {
            normalise(raw.as_bytes())
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(n("./usr//bin/"), Some("usr/bin".into()));
        assert_eq!(n("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(n("./"), None);
        assert_eq!(n("."), None);
        assert!(normalise(b"usr/../../etc").is_err());
    }
}
