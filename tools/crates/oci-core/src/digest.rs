//! Content digests (`sha256:<hex>`) and writers/readers that compute them while streaming.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::{Context, Error, Result};

/// A validated `sha256:<64 lowercase hex>` content digest. Other algorithms are rejected on
/// purpose: every registry we target speaks sha256 and a second algorithm would double the
/// ways two builds can disagree about an identical blob.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses and validates `sha256:<hex>`.
    pub fn parse(text: &str) -> Result<Self> {
        let valid = |hex: &&str| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        match text.strip_prefix("sha256:").filter(valid) {
            Some(hex) => Ok(Digest {
                hex: hex.to_owned(),
            }),
            None => Err(Error::Invalid(format!(
                "invalid digest {text:?}: expected sha256:<64 lowercase hex characters>"
            ))),
        }
    }

    /// The digest of an in-memory byte string.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(hasher: Sha256) -> Self {
        let hash = hasher.finalize();
        let mut hex = String::with_capacity(64);
        for byte in hash {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Digest { hex }
    }

    /// The 64 hex characters, without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Streams bytes into `inner` while hashing and counting them.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Returns the inner writer, the digest of everything written and its length.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts bytes as they are read from `inner`.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The digest and length of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}

/// Digest and size of a file, streamed (never held in memory).
pub fn digest_file(path: &Path) -> Result<(Digest, u64)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = HashingReader::new(file);
    io::copy(&mut reader, &mut io::sink())
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(reader.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(Digest::of_bytes(b"").to_string(), EMPTY);
        let (_, digest, size) = HashingWriter::new(Vec::new()).finish();
        assert_eq!((digest.to_string(), size), (EMPTY.to_owned(), 0));
    }

    #[test]
    fn writer_and_reader_agree_with_one_shot_hash() {
        let data = b"layer bytes".repeat(1000);
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(&data).unwrap();
        let (copy, digest, size) = writer.finish();
        assert_eq!(copy, data);
        assert_eq!(size, data.len() as u64);
        assert_eq!(digest, Digest::of_bytes(&data));

        let mut reader = HashingReader::new(&data[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(
            reader.finish(),
            (Digest::of_bytes(&data), data.len() as u64)
        );
    }

    #[test]
    fn parse_rejects_malformed_digests() {
        for bad in [
            "",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let err = Digest::parse(bad).unwrap_err().to_string();
            assert!(err.contains("expected sha256:"), "{bad:?}: {err}");
        }
        assert_eq!(Digest::parse(EMPTY).unwrap().to_string(), EMPTY);
    }

    #[test]
    fn serde_round_trip_validates() {
        let digest: Digest = serde_json::from_str(&format!("\"{EMPTY}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&digest).unwrap(),
            format!("\"{EMPTY}\"")
        );
        assert!(serde_json::from_str::<Digest>("\"sha256:nothex\"").is_err());
    }
}
