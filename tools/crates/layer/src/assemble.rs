//! A layer assembled from pieces without compressing them again: a member (gzip) or frame
//! (zstd) with the directories above the pieces, each piece's compressed bytes as they are,
//! then a member holding the end-of-archive marker. Concatenated gzip members and zstd frames
//! are one valid stream, and the tar inside is sorted when the pieces come in name order.
//!
//! The digest is the sha256 of the bytes copied; the diff_id needs the uncompressed tar, so
//! every piece is decompressed on the way, by a second thread (only small pieces share layers:
//! a large distribution's piece is written as a whole layer of its own). Each piece is checked
//! against its descriptor, so a damaged piece fails here.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

use crate::error::{Context, Error, Result};
use sematic_oci_core::archive::{Owner, TarWriter, END_OF_ARCHIVE};
use sematic_oci_core::digest::{HashingReader, HashingWriter};
use sematic_oci_core::layer_descriptor::LayerDescriptor;
use sematic_oci_core::media_type::{Compression, Family};
use sematic_oci_core::Digest;

use crate::from_manifest::Target;
use crate::piece::PieceDescriptor;
use crate::stream::{
    blob_writer, estargz_compressor, finish_blob, BlobWriter, Compressor, FinishedLayer,
};

/// Read size when copying pieces.
const COPY_BUFFER: u64 = 1 << 20;
/// Chunks read ahead of the decoder: bounds memory whatever the piece's size.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A `DESCRIPTOR.json=BLOB` argument: a piece `sematic-layer assemble` reads, or a part of a
/// split layer `sematic-layer manifest --part` writes.
#[derive(Clone, Debug)]
pub struct BlobArg {
    pub descriptor: PathBuf,
    pub blob: PathBuf,
}

impl BlobArg {
    pub fn parse(text: &str) -> Result<Self> {
        match text.split_once('=') {
            Some((descriptor, blob)) if !descriptor.is_empty() && !blob.is_empty() => Ok(BlobArg {
                descriptor: descriptor.into(),
                blob: blob.into(),
            }),
            _ => Err(Error::Pieces(format!(
                "expected DESCRIPTOR.json=BLOB, got {text:?}"
            ))),
        }
    }
}

/// Writes the layer at `target.blob` (committed by the caller): `directories` (absolute
/// paths, mode 0755) first, then `pieces` in the order given (an eStargz layer then moves its
/// prioritized files first).
pub fn assemble(
    pieces: &[BlobArg],
    directories: &[String],
    target: &Target,
) -> Result<FinishedLayer> {
    let (compression, output, jobs) = (target.compression, target.blob, target.jobs);
    let descriptors = pieces
        .iter()
        .map(|piece| {
            let descriptor = PieceDescriptor::read(&piece.descriptor)?;
            if descriptor.compression != compression {
                return Err(Error::Pieces(format!(
                    "piece {} is {} but the layer is {}: build every piece with --compression {}",
                    piece.descriptor.display(),
                    descriptor.compression.name(),
                    compression.name(),
                    compression.name()
                )));
            }
            Ok(descriptor)
        })
        .collect::<Result<Vec<_>>>()?;
    let header = header_tar(directories)?;
    check_order(&header.last, pieces, &descriptors)?;
    if compression == Compression::Estargz {
        return inflate_into_estargz(pieces, &descriptors, &header, output, target);
    }

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
            toc_digest: None,
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
    if sorted != names {
        return Err(Error::Pieces(format!(
            "--directory values must be sorted and distinct, parents first: {directories:?}"
        )));
    }
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
    pieces: &[BlobArg],
    descriptors: &[PieceDescriptor],
) -> Result<()> {
    let mut previous = (header_last.to_owned(), "the --directory entries".to_owned());
    for (piece, descriptor) in pieces.iter().zip(descriptors) {
        if descriptor.entries == 0 {
            continue;
        }
        if descriptor.first.as_str() <= previous.0.as_str() {
            return Err(Error::Pieces(format!(
                "piece {} starts with {} but {} ends with {}: give pieces in name order, without overlap",
                piece.descriptor.display(),
                descriptor.first,
                previous.1,
                previous.0
            )));
        }
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
    Ok(compressor.finish()?.0)
}

/// An eStargz layer: its TOC needs every entry's offset in the final blob, and its prioritized
/// files move to the front, so the (gzip) pieces are inflated, checked against their
/// descriptors, and the whole tar is written as eStargz once. Slower than copying members,
/// but correct for any piece.
fn inflate_into_estargz(
    pieces: &[BlobArg],
    descriptors: &[PieceDescriptor],
    header: &Header,
    output: &Path,
    target: &Target,
) -> Result<FinishedLayer> {
    let mut tar = estargz_compressor(output, target.prioritized, target.jobs)?;
    tar.write_all(&header.bytes)?;
    for (piece, descriptor) in pieces.iter().zip(descriptors) {
        inflate_piece(&mut tar, piece, descriptor)
            .with_context(|| format!("piece {}", piece.blob.display()))?;
    }
    tar.write_all(&[0; END_OF_ARCHIVE])?;
    let context = || format!("writing {}", output.display());
    let (blob, facts) = tar.finish().with_context(context)?;
    let facts = facts.expect("an eStargz compressor describes its blob");
    let (file, digest, size) = finish_blob(blob).with_context(context)?;
    let entries = header.entries + descriptors.iter().map(|d| d.entries).sum::<u64>();
    Ok(FinishedLayer {
        descriptor: facts.descriptor(digest, size, entries),
        blob: file,
    })
}

/// Writes a gzip piece's tar into `tar`, checking its bytes, both ways, against `descriptor`.
fn inflate_piece(
    tar: &mut impl Write,
    piece: &BlobArg,
    descriptor: &PieceDescriptor,
) -> Result<()> {
    let file = File::open(&piece.blob).context("opening the blob")?;
    let mut compressed = HashingReader::new(io::BufReader::new(file));
    let mut uncompressed = HashingWriter::new(tar);
    io::copy(
        &mut flate2::read::MultiGzDecoder::new(&mut compressed),
        &mut uncompressed,
    )
    .context("decompressing")?;
    let (_, uncompressed_digest, uncompressed_size) = uncompressed.finish();
    let (digest, size) = compressed.finish();
    if !(digest == descriptor.digest
        && size == descriptor.size
        && uncompressed_digest == descriptor.uncompressed_digest
        && uncompressed_size == descriptor.uncompressed_size)
    {
        return Err(mismatch(piece, &digest, size, uncompressed_size));
    }
    Ok(())
}

/// A piece whose blob is not the one its descriptor describes (with what the blob has).
fn mismatch(piece: &BlobArg, digest: &Digest, size: u64, uncompressed_size: u64) -> Error {
    Error::Pieces(format!(
        "the blob does not match {} (it has {size} bytes, {digest}; {uncompressed_size} bytes uncompressed): rebuild the piece",
        piece.descriptor.display(),
    ))
}

/// Copies a piece's compressed bytes into the blob while a second thread decompresses them
/// into `diff_id` (the two halves take about as long, so on two cores the copy costs about
/// the decompression alone), and checks the piece against its descriptor: its compressed
/// digest and size (which fix its content) and its uncompressed size.
fn copy_piece(
    blob: &mut BlobWriter,
    diff_id: &mut HashingWriter<io::Sink>,
    piece: &BlobArg,
    descriptor: &PieceDescriptor,
    compression: Compression,
) -> Result<()> {
    let mut file = File::open(&piece.blob).context("opening the blob")?;
    let (chunks, received) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
    let mut copied = HashingWriter::new(io::sink());
    let uncompressed_size = thread::scope(|scope| {
        let decoder = scope.spawn(move || decode(compression, ChunkReader::new(received), diff_id));
        let copy = copy_chunks(&mut file, &mut copied, blob, chunks);
        let decoded = decoder.join().expect("the decoding thread panicked");
        copy.context("reading")?;
        decoded.context("decompressing")
    })?;
    let (_, digest, size) = copied.finish();
    if !(digest == descriptor.digest
        && size == descriptor.size
        && uncompressed_size == descriptor.uncompressed_size)
    {
        return Err(mismatch(piece, &digest, size, uncompressed_size));
    }
    Ok(())
}

/// Reads `file` to its end into the blob and `copied`, sending each chunk to the decoder.
/// Bytes after the piece's member or frame are copied too (and then fail the size check);
/// once the decoder has stopped, chunks are no longer sent.
fn copy_chunks(
    file: &mut File,
    copied: &mut HashingWriter<io::Sink>,
    blob: &mut BlobWriter,
    chunks: SyncSender<Vec<u8>>,
) -> io::Result<()> {
    let mut decoder = Some(chunks);
    loop {
        let mut chunk = Vec::new();
        if file.take(COPY_BUFFER).read_to_end(&mut chunk)? == 0 {
            return Ok(());
        }
        copied.write_all(&chunk)?;
        blob.write_all(&chunk)?;
        if decoder.as_ref().is_some_and(|to| to.send(chunk).is_err()) {
            decoder = None;
        }
    }
}

/// Decompresses the stream into `diff_id`; returns the uncompressed size.
fn decode(
    compression: Compression,
    mut compressed: ChunkReader,
    diff_id: &mut HashingWriter<io::Sink>,
) -> io::Result<u64> {
    match compression {
        Compression::None => io::copy(&mut compressed, diff_id),
        // eStargz pieces are gzip; only their layer differs.
        Compression::Gzip | Compression::Estargz => {
            io::copy(&mut flate2::bufread::GzDecoder::new(compressed), diff_id)
        }
        Compression::Zstd => io::copy(
            &mut zstd::stream::read::Decoder::with_buffer(compressed)?.single_frame(),
            diff_id,
        ),
    }
}

/// The chunks a channel brings, as one buffered stream that ends when the sender is gone.
struct ChunkReader {
    chunks: Receiver<Vec<u8>>,
    current: Vec<u8>,
    offset: usize,
}

impl ChunkReader {
    fn new(chunks: Receiver<Vec<u8>>) -> Self {
        ChunkReader {
            chunks,
            current: Vec::new(),
            offset: 0,
        }
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.offset == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => (self.current, self.offset) = (chunk, 0),
                Err(_) => break,
            }
        }
        Ok(&self.current[self.offset..])
    }

    fn consume(&mut self, amount: usize) {
        self.offset += amount;
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let read = available.len().min(buf.len());
        buf[..read].copy_from_slice(&available[..read]);
        self.consume(read);
        Ok(read)
    }
}
