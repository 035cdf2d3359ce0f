//! The normalised tar entries every layer is made of.
//!
//! Headers are GNU format: names and link targets longer than 100 bytes go into `././@LongLink`
//! records, which GNU tar, Go's archive/tar (Docker, containerd, podman) and Python read. Every
//! header has mtime [`MTIME`], empty user and group names, and no atime, ctime or extended
//! attributes, so nothing about the building host or the time of the build reaches the bytes.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tar::{EntryType, Header};

/// Modification time of every entry: the Unix epoch, 1970-01-01T00:00:00Z. A fixed value makes
/// layers reproducible; 0 is what Bazel's own archives and most reproducible-build tools use.
pub const MTIME: u64 = 0;

/// Ownership and permission bits of one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl Owner {
    /// Owned by root (uid and gid 0) with `mode`: every entry of a layer built from a manifest.
    pub fn root(mode: u32) -> Self {
        Owner {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// A tar stream being written, one normalised entry at a time. Names are relative paths without
/// a leading `/`; directories get their trailing `/` here.
pub struct TarWriter<W: Write> {
    builder: tar::Builder<EndGate<W>>,
    entries: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(output: W) -> Self {
        TarWriter {
            builder: tar::Builder::new(EndGate {
                inner: output,
                closed: false,
            }),
            entries: 0,
        }
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn directory(&mut self, name: &[u8], owner: Owner) -> io::Result<()> {
        let mut header = header(EntryType::Directory, owner, 0);
        let mut with_slash = Vec::with_capacity(name.len() + 1);
        with_slash.extend_from_slice(name);
        with_slash.push(b'/');
        self.append(&mut header, &with_slash, io::empty())
    }

    /// A regular file of exactly `size` bytes read from `content`; a source that ends early is
    /// an error (the header already promised `size` bytes), and extra bytes are ignored.
    pub fn file<R: Read>(
        &mut self,
        name: &[u8],
        owner: Owner,
        size: u64,
        content: R,
    ) -> io::Result<()> {
        let mut header = header(EntryType::Regular, owner, size);
        let content = ExactSize {
            inner: content.take(size),
            remaining: size,
        };
        self.append(&mut header, name, content)
    }

    pub fn symlink(&mut self, name: &[u8], target: &[u8], owner: Owner) -> io::Result<()> {
        self.link(EntryType::Symlink, name, target, owner)
    }

    /// A hard link to `target`, an earlier entry of this archive.
    pub fn hard_link(&mut self, name: &[u8], target: &[u8], owner: Owner) -> io::Result<()> {
        self.link(EntryType::Link, name, target, owner)
    }

    /// A character or block device, or a fifo (`major` and `minor` are 0 for fifos).
    pub fn special(
        &mut self,
        kind: EntryType,
        name: &[u8],
        owner: Owner,
        major: u32,
        minor: u32,
    ) -> io::Result<()> {
        let mut header = header(kind, owner, 0);
        header.set_device_major(major)?;
        header.set_device_minor(minor)?;
        self.append(&mut header, name, io::empty())
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(self) -> io::Result<W> {
        Ok(self.builder.into_inner()?.inner)
    }

    /// Returns the output without the end-of-archive marker: a piece of an archive, to be
    /// concatenated with others (a reader stops at the first marker).
    pub fn finish_piece(mut self) -> io::Result<W> {
        self.builder.get_mut().closed = true;
        Ok(self.builder.into_inner()?.inner)
    }

    fn link(
        &mut self,
        kind: EntryType,
        name: &[u8],
        target: &[u8],
        owner: Owner,
    ) -> io::Result<()> {
        let mut header = header(kind, owner, 0);
        self.builder
            .append_link(&mut header, as_path(name), as_path(target))?;
        self.entries += 1;
        Ok(())
    }

    fn append<R: Read>(&mut self, header: &mut Header, name: &[u8], data: R) -> io::Result<()> {
        self.builder.append_data(header, as_path(name), data)?;
        self.entries += 1;
        Ok(())
    }
}

/// Length of the end-of-archive marker: two zero blocks.
pub const END_OF_ARCHIVE: usize = 1024;

/// Passes bytes through until closed; then drops them. The tar crate always ends an archive it
/// is done with; for a piece, the gate is closed first and that marker goes nowhere.
struct EndGate<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Write for EndGate<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(kind: EntryType, owner: Owner, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(owner.mode);
    header.set_uid(owner.uid);
    header.set_gid(owner.gid);
    header.set_mtime(MTIME);
    header.set_size(size);
    header
}

fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Reads exactly the number of bytes a header announced, failing if the source runs short
/// (a file truncated while the layer was being written would otherwise corrupt the archive).
struct ExactSize<R> {
    inner: io::Take<R>,
    remaining: u64,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the source ended {} bytes early (did it change while the layer was written?)",
                    self.remaining
                ),
            ));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries_of(bytes: &[u8]) -> Vec<(String, EntryType, u32, u64, u64, u64, String)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                    header.entry_type(),
                    header.mode().unwrap(),
                    header.uid().unwrap(),
                    header.mtime().unwrap(),
                    header.size().unwrap(),
                    entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8(t.into_owned()).unwrap())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_are_normalised_and_long_names_survive() {
        let long = format!("app/{}/file.py", "d".repeat(150));
        let long_target = format!("../{}", "t".repeat(120));
        let mut tar = TarWriter::new(Vec::new());
        tar.directory(b"app", Owner::root(0o755)).unwrap();
        tar.file(long.as_bytes(), Owner::root(0o644), 3, &b"abc"[..])
            .unwrap();
        tar.symlink(b"app/link", long_target.as_bytes(), Owner::root(0o777))
            .unwrap();
        assert_eq!(tar.entries(), 3);
        let bytes = tar.finish().unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let entries = entries_of(&bytes);
        assert_eq!(
            entries,
            vec![
                (
                    "app/".into(),
                    EntryType::Directory,
                    0o755,
                    0,
                    0,
                    0,
                    "".into()
                ),
                (long, EntryType::Regular, 0o644, 0, 0, 3, "".into()),
                (
                    "app/link".into(),
                    EntryType::Symlink,
                    0o777,
                    0,
                    0,
                    0,
                    long_target
                ),
            ]
        );
    }

    #[test]
    fn pieces_and_an_end_marker_concatenate_into_the_whole_archive() {
        let mut first = TarWriter::new(Vec::new());
        first.directory(b"app", Owner::root(0o755)).unwrap();
        let first = first.finish_piece().unwrap();
        let mut second = TarWriter::new(Vec::new());
        second
            .file(b"app/x.py", Owner::root(0o644), 2, &b"hi"[..])
            .unwrap();
        let second = second.finish_piece().unwrap();
        let mut whole = TarWriter::new(Vec::new());
        whole.directory(b"app", Owner::root(0o755)).unwrap();
        whole
            .file(b"app/x.py", Owner::root(0o644), 2, &b"hi"[..])
            .unwrap();
        let whole = whole.finish().unwrap();
        assert_eq!([first, second, vec![0; END_OF_ARCHIVE]].concat(), whole);
    }

    #[test]
    fn a_source_shorter_than_announced_is_an_error() {
        let mut tar = TarWriter::new(Vec::new());
        let err = tar
            .file(b"short", Owner::root(0o644), 10, &b"abc"[..])
            .unwrap_err();
        assert!(err.to_string().contains("7 bytes early"), "{err}");
    }
}
