//! The blob as a sequence of gzip members, each with a fixed header (mtime 0, no name, OS
//! "unknown") and a pinned deflate level, so the bytes depend only on the input. Counts and
//! hashes both sides: the compressed bytes (the blob's digest and member offsets) and the
//! uncompressed ones (the diff_id).

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Deflate level: zlib's default, the one the layer tool's gzip layers use.
pub const LEVEL: u32 = 6;
/// The footer's length, fixed by the format.
pub const FOOTER_SIZE: usize = 51;

/// Counts and hashes what reaches the output.
struct Counter<W> {
    inner: W,
    written: u64,
    sha: Sha256,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.written += n as u64;
        self.sha.update(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum State<W: Write> {
    Open(Box<GzEncoder<Counter<W>>>),
    Closed(Counter<W>),
}

/// What a finished blob is: its digest and size, and its uncompressed stream's.
pub struct Totals {
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub uncompressed_size: u64,
}

pub struct Members<W: Write> {
    // Only None while a member is being opened or closed.
    state: Option<State<W>>,
    diff: Sha256,
    uncompressed: u64,
}

impl<W: Write> Members<W> {
    pub fn new(output: W) -> Self {
        let counter = Counter {
            inner: output,
            written: 0,
            sha: Sha256::new(),
        };
        Members {
            state: Some(State::Closed(counter)),
            diff: Sha256::new(),
            uncompressed: 0,
        }
    }

    /// Ends the current member (if any) and starts a new one; returns the new member's
    /// offset in the blob.
    pub fn start_member(&mut self) -> Result<u64> {
        let counter = self.close()?;
        let offset = counter.written;
        let encoder = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(counter, Compression::new(LEVEL));
        self.state = Some(State::Open(Box::new(encoder)));
        Ok(offset)
    }

    /// Appends uncompressed bytes to the current member, starting one if none is open.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        if !matches!(self.state, Some(State::Open(_))) {
            self.start_member()?;
        }
        let Some(State::Open(encoder)) = &mut self.state else {
            unreachable!("a member was just opened")
        };
        encoder.write_all(data).map_err(Error::Write)?;
        self.diff.update(data);
        self.uncompressed += data.len() as u64;
        Ok(())
    }

    /// Ends the current member and hands out the output; the caller puts a state back.
    fn close(&mut self) -> Result<Counter<W>> {
        match self.state.take().expect("state is always restored") {
            State::Open(encoder) => encoder.finish().map_err(Error::Write),
            State::Closed(counter) => Ok(counter),
        }
    }

    /// Ends the last member, appends the footer pointing at `toc_offset` and flushes.
    pub fn finish(mut self, toc_offset: u64) -> Result<Totals> {
        let mut counter = self.close()?;
        counter
            .write_all(&footer(toc_offset))
            .map_err(Error::Write)?;
        counter.flush().map_err(Error::Write)?;
        Ok(Totals {
            digest: format!("sha256:{:x}", counter.sha.finalize()),
            size: counter.written,
            diff_id: format!("sha256:{:x}", self.diff.finalize()),
            uncompressed_size: self.uncompressed,
        })
    }
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
