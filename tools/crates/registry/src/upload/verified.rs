//! The content of an upload, checked against its digest as it goes out: the read that would
//! complete the blob fails instead when the bytes do not hash to the digest (or end early), so
//! a registry never receives a whole blob that is not what its digest names, and the upload
//! fails on our side, once, with what is wrong.

use std::io::{self, Read};

use sematic_oci_core::digest::HashingReader;
use sematic_oci_core::Digest;

/// What is wrong with the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// All `size` bytes were read and hash to this.
    Hash(Digest),
    /// The content ended after this many bytes.
    Short(u64),
}

/// A blob's content from its first byte, verified against `expected` (see the module doc).
pub(crate) struct Verified<'a, R> {
    /// `None` once the last byte was read and checked.
    hashing: Option<HashingReader<R>>,
    expected: &'a Digest,
    size: u64,
    problem: Option<Problem>,
}

impl<'a, R: Read> Verified<'a, R> {
    pub fn new(inner: R, expected: &'a Digest, size: u64) -> Self {
        Verified {
            hashing: Some(HashingReader::new(inner)),
            expected,
            size,
            problem: None,
        }
    }

    /// Reads (and hashes) the first `offset` bytes without passing them on: an upload resumed
    /// at `offset` still checks the whole blob.
    pub fn skip(&mut self, offset: u64) -> io::Result<()> {
        io::copy(&mut self.take(offset), &mut io::sink()).map(drop)
    }

    /// What was wrong with the content, once a read failed because of it.
    pub fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }

    fn fail(&mut self, problem: Problem) -> io::Error {
        self.problem = Some(problem);
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the blob's content is not what its digest names",
        )
    }
}

impl<R: Read> Read for Verified<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hashing) = &mut self.hashing else {
            return Ok(0);
        };
        let left = self.size - hashing.bytes_read();
        let wanted = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
        let read = if wanted == 0 {
            0
        } else {
            hashing.read(&mut buf[..wanted])?
        };
        if read == 0 && left > 0 {
            let short = hashing.bytes_read();
            return Err(self.fail(Problem::Short(short)));
        }
        if read as u64 == left {
            let (actual, _) = self.hashing.take().map(HashingReader::finish).unzip();
            if let Some(actual) = actual.filter(|actual| actual != self.expected) {
                return Err(self.fail(Problem::Hash(actual)));
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_content_passes_whole() {
        let digest = Digest::of_bytes(b"hello world");
        let mut verified = Verified::new(&b"hello world and more"[..], &digest, 11);
        let mut out = Vec::new();
        verified.read_to_end(&mut out).unwrap();
        assert_eq!(
            (out.as_slice(), verified.problem()),
            (&b"hello world"[..], None)
        );
    }

    #[test]
    fn other_content_fails_before_its_last_bytes_go_out() {
        let digest = Digest::of_bytes(b"hello world");
        let mut verified = Verified::new(&b"hello_world"[..], &digest, 11);
        verified.skip(6).unwrap();
        let mut out = [0u8; 64];
        let err = verified.read(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            verified.problem(),
            Some(&Problem::Hash(Digest::of_bytes(b"hello_world")))
        );
    }

    #[test]
    fn content_ending_early_is_short_and_empty_blobs_are_checked() {
        let digest = Digest::of_bytes(b"hello world");
        let mut verified = Verified::new(&b"hello"[..], &digest, 11);
        assert!(verified.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(verified.problem(), Some(&Problem::Short(5)));
        let empty = Digest::of_bytes(b"");
        let mut verified = Verified::new(&b""[..], &empty, 0);
        assert_eq!(verified.read(&mut [0u8; 8]).unwrap(), 0);
        let mut verified = Verified::new(&b""[..], &digest, 0);
        assert!(verified.read(&mut [0u8; 8]).is_err());
    }
}
