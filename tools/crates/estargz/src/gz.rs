//! The blob as a sequence of gzip members, each with a fixed header (mtime 0, no name, OS
//! "unknown") and a pinned deflate level, so the bytes depend only on the input. Counts and
//! hashes both sides: the compressed bytes (the blob's digest and member offsets) and the
//! uncompressed ones (the diff_id).
//!
//! Members are independent gzip streams, so finished ones are compressed in batches on `jobs`
//! threads and written in order: the same bytes as one thread, at the speed of all cores. A
//! member is known by its index until its batch is written; then its offset is known.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Deflate level: zlib's default, the one the layer tool's gzip layers use.
pub const LEVEL: u32 = 6;
/// The footer's length, fixed by the format.
pub const FOOTER_SIZE: usize = 51;
/// Uncompressed bytes of finished members held before they are compressed: enough for every
/// thread to have several 4 MiB chunks, little enough to stay a small part of a build's memory.
const BATCH_BYTES: usize = 32 << 20;

/// Counts and hashes what reaches the output.
struct Counter<W> {
    inner: W,
    written: u64,
    sha: Sha256,
}

impl<W: Write> Counter<W> {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.inner.write_all(data).map_err(Error::Write)?;
        self.written += data.len() as u64;
        self.sha.update(data);
        Ok(())
    }
}

/// What a finished blob is: its digest and size, and its uncompressed stream's.
pub struct Totals {
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub uncompressed_size: u64,
}

pub struct Members<W: Write> {
    output: Counter<W>,
    jobs: usize,
    /// The member being filled, if one is open.
    open: Option<Vec<u8>>,
    /// Finished members not compressed yet, and their total length.
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    batch_bytes: usize,
    /// The blob offset of each member written so far, by index.
    offsets: Vec<u64>,
    diff: Sha256,
    uncompressed: u64,
}

impl<W: Write> Members<W> {
    /// Members written to `output`, compressed on `jobs` threads (at least one).
    pub fn new(output: W, jobs: usize) -> Self {
        let output = Counter {
            inner: output,
            written: 0,
            sha: Sha256::new(),
        };
        Members {
            output,
            jobs: jobs.max(1),
            open: None,
            pending: Vec::new(),
            pending_bytes: 0,
            batch_bytes: BATCH_BYTES,
            offsets: Vec::new(),
            diff: Sha256::new(),
            uncompressed: 0,
        }
    }

    /// Ends the current member (if any) and starts a new one; returns the new member's index
    /// (see [`Members::offsets`]).
    pub fn start_member(&mut self) -> Result<usize> {
        self.close()?;
        self.open = Some(Vec::new());
        Ok(self.offsets.len() + self.pending.len())
    }

    /// Appends uncompressed bytes to the current member, starting one if none is open. Only
    /// held: compression and output happen when a batch of members is full.
    pub fn write_all(&mut self, data: &[u8]) {
        self.open
            .get_or_insert_with(Vec::new)
            .extend_from_slice(data);
        self.diff.update(data);
        self.uncompressed += data.len() as u64;
    }

    /// The blob offset of every member started so far, by index: the open member is ended.
    pub fn offsets(&mut self) -> Result<&[u64]> {
        self.close()?;
        self.compress_pending()?;
        Ok(&self.offsets)
    }

    /// Ends the last member, appends the footer pointing at member `toc_member` and flushes.
    pub fn finish(mut self, toc_member: usize) -> Result<Totals> {
        let toc_offset = self.offsets()?[toc_member];
        let mut output = self.output;
        output.write_all(&footer(toc_offset))?;
        output.inner.flush().map_err(Error::Write)?;
        Ok(Totals {
            digest: format!("sha256:{:x}", output.sha.finalize()),
            size: output.written,
            diff_id: format!("sha256:{:x}", self.diff.finalize()),
            uncompressed_size: self.uncompressed,
        })
    }

    /// Moves the open member to the pending ones, compressing them once there are enough.
    fn close(&mut self) -> Result<()> {
        if let Some(member) = self.open.take() {
            self.pending_bytes += member.len();
            self.pending.push(member);
            if self.pending_bytes >= self.batch_bytes {
                self.compress_pending()?;
            }
        }
        Ok(())
    }

    fn compress_pending(&mut self) -> Result<()> {
        let members = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        for compressed in compress_all(&members, self.jobs) {
            self.offsets.push(self.output.written);
            self.output.write_all(&compressed.map_err(Error::Write)?)?;
        }
        Ok(())
    }
}

/// Each member as its own gzip stream, in order; up to `jobs` threads take the next member.
fn compress_all(members: &[Vec<u8>], jobs: usize) -> Vec<io::Result<Vec<u8>>> {
    let threads = jobs.min(members.len());
    if threads <= 1 {
        return members.iter().map(|m| compress(m)).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<Vec<u8>>>>> =
        Mutex::new(members.iter().map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(member) = members.get(index) else {
                    break;
                };
                let compressed = compress(member);
                results.lock().expect("no thread panics holding it")[index] = Some(compressed);
            });
        }
    });
    let results = results.into_inner().expect("no thread panics holding it");
    results
        .into_iter()
        .map(|r| r.expect("every member was compressed"))
        .collect()
}

fn compress(member: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new().mtime(0).operating_system(255).write(
        Vec::with_capacity(member.len() / 2 + 64),
        Compression::new(LEVEL),
    );
    encoder.write_all(member)?;
    encoder.finish()
}

/// The footer: an empty gzip member whose extra field ("SG", 22 bytes) holds the TOC
/// member's offset as 16 hex digits and "STARGZ". Stored (not deflated), so always 51 bytes.
fn footer(toc_offset: u64) -> [u8; FOOTER_SIZE] {
    let subfield = format!("{toc_offset:016x}STARGZ");
    let mut bytes = Vec::with_capacity(FOOTER_SIZE);
    // Magic, deflate, FEXTRA, mtime 0, no extra flags, OS unknown.
    bytes.extend_from_slice(&[0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255]);
    bytes.extend_from_slice(&(4 + subfield.len() as u16).to_le_bytes());
    bytes.extend_from_slice(b"SG");
    bytes.extend_from_slice(&(subfield.len() as u16).to_le_bytes());
    bytes.extend_from_slice(subfield.as_bytes());
    // One final stored block of length 0, then CRC-32 and size of the empty payload.
    bytes.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    bytes.extend_from_slice(&[0; 8]);
    bytes.try_into().expect("the footer layout is 51 bytes")
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::Members;

    /// Members of `sizes` bytes each, batched every `batch_bytes`, on `jobs` threads: the
    /// blob, each member's offset, and the footer's (the last member's).
    fn blob(sizes: &[usize], batch_bytes: usize, jobs: usize) -> (Vec<u8>, Vec<u64>) {
        let mut blob = Vec::new();
        let mut members = Members::new(&mut blob, jobs);
        members.batch_bytes = batch_bytes;
        let mut indices = Vec::new();
        for (n, &size) in sizes.iter().enumerate() {
            indices.push(members.start_member().unwrap());
            let content: Vec<u8> = (0..size).map(|i| (i * 7 + n) as u8).collect();
            members.write_all(&content);
        }
        let offsets = members.offsets().unwrap().to_vec();
        assert_eq!(indices, (0..sizes.len()).collect::<Vec<_>>());
        members.finish(sizes.len() - 1).unwrap();
        (blob, offsets)
    }

    #[test]
    fn any_number_of_threads_and_batches_writes_the_same_members() {
        let sizes = [5000, 1, 0, 70_000, 300, 4096, 9];
        let (one, offsets) = blob(&sizes, usize::MAX, 1);
        for (batch_bytes, jobs) in [(1, 1), (1, 3), (6000, 2), (usize::MAX, 4)] {
            assert_eq!(
                blob(&sizes, batch_bytes, jobs),
                (one.clone(), offsets.clone())
            );
        }
        // Each offset starts a gzip member holding that member's bytes.
        for (n, (&offset, &size)) in offsets.iter().zip(&sizes).enumerate() {
            let mut decoder = flate2::read::GzDecoder::new(&one[offset as usize..]);
            let mut content = Vec::new();
            decoder.read_to_end(&mut content).unwrap();
            assert_eq!(
                content,
                (0..size).map(|i| (i * 7 + n) as u8).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn footer_is_an_empty_gzip_member_with_the_offset() {
        let footer = super::footer(0x1234);
        let mut decoder = flate2::read::GzDecoder::new(&footer[..]);
        let mut payload = Vec::new();
        decoder.read_to_end(&mut payload).unwrap();
        assert!(payload.is_empty());
        let extra = decoder.header().unwrap().extra().unwrap();
        assert_eq!(&extra[..4], b"SG\x16\x00");
        assert_eq!(&extra[4..], b"0000000000001234STARGZ");
    }
}
