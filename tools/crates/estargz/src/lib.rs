//! Writes a layer's uncompressed tar stream as an eStargz blob, the lazily pullable gzip
//! layer format of containerd's stargz snapshotter.
//!
//! The blob is a valid gzip stream (every gzip consumer reads it as the layer's tar) made of
//! many gzip members: each regular file's data starts a member (files above the chunk size
//! start one per chunk), the TOC `stargz.index.json` is the last tar entry in a member of its
//! own, and a 51-byte empty member (the footer) says where the TOC starts. A lazy puller reads
//! the footer and TOC with two range requests, then fetches single members on demand.
//!
//! Entries keep their input header bytes (PAX and GNU extension headers included) and data
//! byte for byte. Prioritized files come first, followed by the `.prefetch.landmark` entry:
//! the snapshotter fetches everything before it in one request before the container starts.
//! Without prioritized files, a `.no.prefetch.landmark` entry comes first instead.
//!
//! Reproducible: fixed gzip headers and deflate level, deterministic TOC JSON. Streaming: the
//! input is read twice (a scan, then the copy) through `Seek`, and only the TOC and a batch
//! of members waiting for the compressing threads are held in memory.

mod error;
mod gz;
mod order;
mod scan;
mod toc;

use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

pub use error::{Error, Result};
use gz::Members;
pub use gz::{FOOTER_SIZE, LEVEL};
pub use order::clean;
use scan::{padded, Entry, Kind, BLOCK};
use toc::{Toc, TocEntry};

/// Name of the TOC's tar entry.
pub const TOC_TAR_NAME: &str = "stargz.index.json";
/// Entry that ends the prioritized files.
pub const PREFETCH_LANDMARK: &str = ".prefetch.landmark";
/// Entry that says there is nothing to prefetch.
pub const NO_PREFETCH_LANDMARK: &str = ".no.prefetch.landmark";
/// Layer descriptor annotation carrying [`Blob::toc_digest`].
pub const TOC_DIGEST_ANNOTATION: &str = "containerd.io/snapshot/stargz/toc.digest";
/// Layer descriptor annotation carrying [`Blob::uncompressed_size`].
pub const UNCOMPRESSED_SIZE_ANNOTATION: &str = "io.containers.estargz.uncompressed-size";
/// The reference implementation's default chunk size.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;
/// The landmarks' one byte of content (a landmark needs data to have an offset).
const LANDMARK_CONTENT: u8 = 0xf;

/// How to write a blob.
#[derive(Clone, Debug)]
pub struct Options {
    /// Regular files larger than this are split into members of this many bytes.
    pub chunk_size: u64,
    /// Paths (as in the tar, with or without "./") written first, in this order.
    pub prioritized: Vec<String>,
    /// Threads compressing members; the bytes are the same for any number.
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunk_size: DEFAULT_CHUNK_SIZE,
            prioritized: Vec::new(),
            jobs: 1,
        }
    }
}

/// The written blob, as its layer descriptor and config need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// "sha256:…" of the blob's bytes.
    pub digest: String,
    pub size: u64,
    /// "sha256:…" of the TOC JSON, for [`TOC_DIGEST_ANNOTATION`].
    pub toc_digest: String,
    /// "sha256:…" of the uncompressed tar stream (the config's rootfs diff_id).
    pub diff_id: String,
    pub uncompressed_size: u64,
}

/// Writes the tar read from `input` (positioned at its start) as an eStargz blob to `output`.
/// On error, `output` holds a partial blob: write to a temporary file and rename on success.
pub fn write<R: Read + Seek, W: Write>(mut input: R, output: W, options: &Options) -> Result<Blob> {
    if options.chunk_size == 0 {
        return Err(Error::ZeroChunkSize);
    }
    let start = input.stream_position().map_err(Error::Read)?;
    let entries = scan::scan(&mut input)?;
    for entry in &entries {
        let name = order::clean(&entry.name);
        if [TOC_TAR_NAME, PREFETCH_LANDMARK, NO_PREFETCH_LANDMARK].contains(&name.as_str()) {
            return Err(Error::Reserved {
                name: entry.name.clone(),
            });
        }
    }
    let (first, rest) = order::order(&entries, &options.prioritized)?;
    input.seek(SeekFrom::Start(start)).map_err(Error::Read)?;

    let mut writer = BlobWriter {
        members: Members::new(output, options.jobs),
        toc: Toc::new(),
        chunk_size: options.chunk_size,
        buffer: vec![0; 64 << 10],
    };
    for &index in &first {
        writer.copy_entry(&mut input, &entries[index])?;
    }
    let landmark = if options.prioritized.is_empty() {
        NO_PREFETCH_LANDMARK
    } else {
        PREFETCH_LANDMARK
    };
    writer.landmark(landmark)?;
    for &index in &rest {
        writer.copy_entry(&mut input, &entries[index])?;
    }
    writer.finish()
}

struct BlobWriter<W: Write> {
    members: Members<W>,
    toc: Toc,
    chunk_size: u64,
    buffer: Vec<u8>,
}

impl<W: Write> BlobWriter<W> {
    /// Copies one entry's bytes as they are and records its TOC entries.
    fn copy_entry<R: Read + Seek>(&mut self, input: &mut R, entry: &Entry) -> Result<()> {
        input
            .seek(SeekFrom::Start(entry.start))
            .map_err(Error::Read)?;
        self.copy(input, entry.data - entry.start, |_| {})?;
        let mut toc_entry = TocEntry::from_tar(entry);
        if entry.kind != Kind::Reg || entry.size == 0 {
            self.copy(input, padded(entry.size), |_| {})?;
            self.toc.entries.push(toc_entry);
            return Ok(());
        }
        let mut file_sha = Sha256::new();
        let first = self.toc.entries.len();
        let mut written = 0;
        while written < entry.size {
            let length = self.chunk_size.min(entry.size - written);
            if length == self.chunk_size {
                toc_entry.chunk_size = length;
            }
            // The member's index until its offset is known (in `finish`).
            toc_entry.offset = self.members.start_member()? as u64;
            toc_entry.chunk_offset = written;
            let mut chunk_sha = Sha256::new();
            self.copy(input, length, |data| {
                chunk_sha.update(data);
                file_sha.update(data);
            })?;
            toc_entry.chunk_digest = format!("sha256:{:x}", chunk_sha.finalize());
            self.toc.entries.push(toc_entry);
            written += length;
            toc_entry = TocEntry::chunk(&entry.name);
        }
        self.toc.entries[first].digest = format!("sha256:{:x}", file_sha.finalize());
        // The padding stays in the last chunk's member, with the next entries' headers.
        self.copy(input, padded(entry.size) - entry.size, |_| {})
    }

    /// Copies `length` bytes of `input` into the current member, showing each piece to `see`.
    fn copy<R: Read>(
        &mut self,
        input: &mut R,
        mut length: u64,
        mut see: impl FnMut(&[u8]),
    ) -> Result<()> {
        while length > 0 {
            let piece = length.min(self.buffer.len() as u64) as usize;
            // The scan checked that every entry's data is there.
            input
                .read_exact(&mut self.buffer[..piece])
                .map_err(Error::Read)?;
            see(&self.buffer[..piece]);
            let (buffer, members) = (&self.buffer, &mut self.members);
            members.write_all(&buffer[..piece]);
            length -= piece as u64;
        }
        Ok(())
    }

    /// A regular file with one byte of content: its offset marks the end of the prefetch.
    fn landmark(&mut self, name: &str) -> Result<()> {
        let header = ustar_header(name, 1);
        self.members.write_all(header.as_bytes());
        let mut entry = TocEntry::chunk(name);
        entry.kind = Kind::Reg.toc_name();
        entry.size = 1;
        entry.mode = 0o644;
        entry.offset = self.members.start_member()? as u64;
        let content = [LANDMARK_CONTENT];
        entry.digest = format!("sha256:{:x}", Sha256::digest(content));
        entry.chunk_digest = entry.digest.clone();
        self.members.write_all(&content);
        self.members.write_all(&[0; BLOCK as usize - 1]);
        self.toc.entries.push(entry);
        Ok(())
    }

    /// The TOC as the last tar entry in its own member, the end-of-archive blocks, the footer.
    fn finish(mut self) -> Result<Blob> {
        // Entries without data have 0, which the first member's offset (0) keeps.
        let offsets = self.members.offsets()?;
        for entry in &mut self.toc.entries {
            entry.offset = offsets[entry.offset as usize];
        }
        let json = self.toc.to_json();
        let toc_member = self.members.start_member()?;
        self.members
            .write_all(ustar_header(TOC_TAR_NAME, json.len() as u64).as_bytes());
        self.members.write_all(&json);
        let tail = padded(json.len() as u64) - json.len() as u64 + 2 * BLOCK;
        self.members.write_all(&vec![0; tail as usize]);
        let totals = self.members.finish(toc_member)?;
        Ok(Blob {
            digest: totals.digest,
            size: totals.size,
            toc_digest: format!("sha256:{:x}", Sha256::digest(&json)),
            diff_id: totals.diff_id,
            uncompressed_size: totals.uncompressed_size,
        })
    }
}

/// A fixed header for the entries this crate adds: root-owned, mode 0644, mtime 0.
fn ustar_header(name: &str, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .expect("the crate's own entry names fit a ustar header");
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    header
}
