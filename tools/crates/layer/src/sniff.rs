//! Recognising ELF files from the bytes already streamed into the tar, so that the native
//! report costs no second read of every file.

use std::io::{self, Read};

const MAGIC: &[u8; 4] = b"\x7fELF";

/// Passes a file's bytes through and remembers the first four, so that ELF files are
/// recognised without a second read of every file.
pub struct MagicSniffer<R> {
    inner: R,
    head: [u8; 4],
    seen: usize,
}

impl<R> MagicSniffer<R> {
    pub fn new(inner: R) -> Self {
        MagicSniffer {
            inner,
            head: [0; 4],
            seen: 0,
        }
    }

    /// Whether the bytes read so far start with `\x7fELF`.
    pub fn is_elf(&self) -> bool {
        self.seen == MAGIC.len() && &self.head == MAGIC
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for MagicSniffer<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        let take = (self.head.len() - self.seen).min(read);
        self.head[self.seen..self.seen + take].copy_from_slice(&buf[..take]);
        self.seen += take;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sniffer_sees_the_magic_across_short_reads() {
        let mut sniffer = MagicSniffer::new(io::Cursor::new(b"\x7fELF\x02rest".to_vec()));
        let mut byte = [0u8; 1];
        for _ in 0..3 {
            sniffer.read_exact(&mut byte).unwrap();
        }
        assert!(!sniffer.is_elf());
        let mut rest = Vec::new();
        sniffer.read_to_end(&mut rest).unwrap();
        assert!(sniffer.is_elf());
        assert_eq!(rest, b"F\x02rest");
        for not_elf in [&b"\x7fEL"[..], b"", b"ELF\x7f", b"#!/bin/sh\n"] {
            let mut sniffer = MagicSniffer::new(not_elf);
            io::copy(&mut sniffer, &mut io::sink()).unwrap();
            assert!(!sniffer.is_elf(), "{not_elf:?}");
        }
    }
}
