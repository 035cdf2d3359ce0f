//! A layer assembled from pieces without compressing them again: a member (gzip) or frame
//! (zstd) with the directories above the pieces, each piece's compressed bytes as they are,
//! then a member holding the end-of-archive marker. Concatenated gzip members and zstd frames
//! are one valid stream, and the tar inside is sorted when the pieces come in name order.
//!
//! The digest is the sha256 of the bytes copied; the diff_id needs the uncompressed tar, so
//! every piece is decompressed on the way (only small pieces share layers: a large
//! distribution's piece is written as a whole layer of its own). Each piece is checked against
//! its descriptor, compressed and uncompressed, so a damaged piece fails here.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use sematic_oci_core::archive::{Owner, TarWriter, END_OF_ARCHIVE};
use sematic_oci_core::digest::{HashingReader, HashingWriter};
use sematic_oci_core::layer_descriptor::LayerDescriptor;
use sematic_oci_core::media_type::{Compression, Family};

use crate::piece::PieceDescriptor;
use crate::stream::{blob_writer, finish_blob, BlobWriter, Compressor, FinishedLayer};

/// Read size when copying pieces.
const COPY_BUFFER: usize = 1 << 20;

/// A `--assemble DESCRIPTOR.json=BLOB` argument.
#[derive(Clone, Debug)]
pub struct PieceArg {
    pub descriptor: PathBuf,
    pub blob: PathBuf,
}

impl PieceArg {
    pub fn parse(text: &str) -> Result<Self> {
        match text.split_once('=') {
            Some((descriptor, blob)) if !descriptor.is_empty() && !blob.is_empty() => {
                Ok(PieceArg {
                    descriptor: descriptor.into(),
                    blob: blob.into(),
                })
            }
            _ => bail!("expected PIECE.json=BLOB, got {text:?}"),
        }
    }
}

/// Writes the layer at `output` (committed by the caller): `directories` (absolute paths,
/// mode 0755) first, then `pieces` in the order given.
pub fn assemble(
    pieces: &[PieceArg],
    directories: &[String],
    compression: Compression,
    output: &Path,
    jobs: usize,
) -> Result<FinishedLayer> {
    let descriptors = pieces
        .iter()
        .map(|piece| {
            let descriptor = PieceDescriptor::read(&piece.descriptor)?;
            ensure!(
                descriptor.compression == compression.name(),
                "piece {} is {} but the layer is {}: build every piece with --compression {}",
                piece.descriptor.display(),
                descriptor.compression,
                compression.name(),
                compression.name()
            );
            Ok(descriptor)
        })
        .collect::<Result<Vec<_>>>()?;
    let header = header_tar(directories)?;
    check_order(&header.last, pieces, &descriptors)?;

    let mut diff_id = HashingWriter::new(io::sink());
    let mut blob = blob_writer(output)?;
    blob = member(blob, compression, jobs, &header.bytes, &mut diff_id)?;
    for (piece, descriptor) in pieces.iter().zip(&descriptors) {
        copy_piece(&mut blob, &mut diff_id, piece, descriptor, compression)
            .with_context(|| format!("piece {}", piece.blob.display()))?;
    }
    blob = member(blob, compression, jobs, &[0; END_OF_ARCHIVE], &mut diff_id)?;
    let (_, diff_id, uncompressed_size) = diff_id.finish();
    let (file, digest, size) =
        finish_blob(blob).with_context(|| format!("writing {}", output.display()))?;
    Ok(FinishedLayer {
        descriptor: LayerDescriptor {
            media_type: Family::Oci.layer(compression)?.to_owned(),
            digest,
            size,
            diff_id,
            entries: header.entries + descriptors.iter().map(|d| d.entries).sum::<u64>(),
            uncompressed_size,
        },
        blob: file,
    })
}

/// The uncompressed tar entries of the directories above the pieces.
struct Header {
    bytes: Vec<u8>,
    entries: u64,
    /// Name of its last entry ("" when empty), to check the pieces come after it.
    last: String,
}

fn header_tar(directories: &[String]) -> Result<Header> {
    let mut names = Vec::with_capacity(directories.len());
    for directory in directories {
        let name = directory
            .strip_prefix('/')
            .filter(|name| !name.is_empty() && !name.ends_with('/'))
            .with_context(|| {
                format!("--directory {directory:?} is not an absolute path like /app/_ext")
            })?;
        names.push(name.to_owned());
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    ensure!(
        sorted == names,
        "--directory values must be sorted and distinct, parents first: {directories:?}"
    );
    let mut tar = TarWriter::new(Vec::new());
    for name in &names {
        tar.directory(name.as_bytes(), Owner::root(0o755))?;
    }
    let entries = tar.entries();
    Ok(Header {
        bytes: tar.finish_piece()?,
        entries,
        last: names.last().cloned().unwrap_or_default(),
    })
}

/// Pieces must follow the header and each other in name order, without overlapping.
fn check_order(
    header_last: &str,
    pieces: &[PieceArg],
    descriptors: &[PieceDescriptor],
) -> Result<()> {
    let mut previous = (header_last.to_owned(), "the --directory entries".to_owned());
    for (piece, descriptor) in pieces.iter().zip(descriptors) {
        if descriptor.entries == 0 {
            continue;
        }
        ensure!(
            descriptor.first.as_str() > previous.0.as_str(),
            "piece {} starts with {} but {} ends with {}: give pieces in name order, without overlap",
            piece.descriptor.display(),
            descriptor.first,
            previous.1,
            previous.0
        );
        previous = (
            descriptor.last.clone(),
            format!("piece {}", piece.descriptor.display()),
        );
    }
    Ok(())
}

/// Writes `data` as one compressed member of the blob; returns the blob writer.
fn member(
    blob: BlobWriter,
    compression: Compression,
    jobs: usize,
    data: &[u8],
    diff_id: &mut HashingWriter<io::Sink>,
) -> Result<BlobWriter> {
    let mut compressor = Compressor::new(compression, blob, jobs)?;
    compressor.write_all(data)?;
    diff_id.write_all(data)?;
    Ok(compressor.finish()?)
}

/// Copies a piece's compressed bytes into the blob while decompressing them into `diff_id`,
/// and checks both against the descriptor.
fn copy_piece(
    blob: &mut BlobWriter,
    diff_id: &mut HashingWriter<io::Sink>,
    piece: &PieceArg,
    descriptor: &PieceDescriptor,
    compression: Compression,
) -> Result<()> {
    let file = File::open(&piece.blob).context("opening the blob")?;
    let tee = Tee {
        inner: HashingReader::new(BufReader::with_capacity(COPY_BUFFER, file)),
        copy: blob,
    };
    let mut uncompressed = HashingWriter::new(&mut *diff_id);
    // Decoders read ahead through the tee: every byte they take is in the blob already.
    let mut copied = match compression {
        Compression::None => {
            let mut tee = tee;
            io::copy(&mut tee, &mut uncompressed).context("reading")?;
            tee
        }
        Compression::Gzip => {
            let mut decoder = flate2::read::GzDecoder::new(tee);
            io::copy(&mut decoder, &mut uncompressed).context("decompressing")?;
            decoder.into_inner()
        }
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(tee)?.single_frame();
            io::copy(&mut decoder, &mut uncompressed).context("decompressing")?;
            decoder.finish().into_inner()
        }
    };
    // Anything after the member is copied too, and then fails the size check.
    io::copy(&mut copied, &mut io::sink()).context("reading")?;
    let (_, uncompressed_digest, uncompressed_size) = uncompressed.finish();
    let (digest, size) = copied.inner.finish();
    ensure!(
        (digest == descriptor.digest && size == descriptor.size)
            && (uncompressed_digest == descriptor.uncompressed_digest
                && uncompressed_size == descriptor.uncompressed_size),
        "the blob does not match {} (it has {} bytes, {digest}; {uncompressed_size} bytes uncompressed): rebuild the piece",
        piece.descriptor.display(),
        size
    );
    Ok(())
}

/// Reads from `inner`, copying every byte read into `copy`.
struct Tee<'a, R> {
    inner: HashingReader<R>,
    copy: &'a mut BlobWriter,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.copy.write_all(&buf[..read])?;
        Ok(read)
    }
}
