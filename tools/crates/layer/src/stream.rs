//! The single pass every layer goes through:
//! tar bytes → sha256 (diff_id) → compressor → sha256 + byte count (digest, size) → blob file.
//!
//! eStargz is the exception: its writer reorders entries (prioritized files first) and adds
//! its own, so it needs the whole tar first. The tar goes to an unnamed scratch file beside
//! the blob and is rewritten as eStargz at the end; the diff_id is then the eStargz tar's.
//!
//! Nothing holds more than a few compression blocks in memory, and the blob only appears at its
//! destination once [`LayerStream::finish`] has succeeded and the caller commits it.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

use crate::error::{Context, Result};
use sematic_oci_core::digest::HashingWriter;
use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::media_type::{Compression, Family, OCI_LAYER_GZIP};

use crate::gzip::ParallelGzip;
use crate::piece::PieceDescriptor;
use sematic_oci_core::archive::TarWriter;
use sematic_oci_core::layer_descriptor::LayerDescriptor;
use sematic_oci_core::Digest;

/// zstd level: libzstd's default, about gzip -6's ratio at several times its speed. Pinned
/// because it decides the layer's bytes.
pub const ZSTD_LEVEL: i32 = 3;

/// Bytes per write to the blob file.
const OUTPUT_BUFFER: usize = 1 << 20;

/// The blob file being written, hashed (digest) and counted (size) on the way.
pub type BlobWriter = HashingWriter<BufWriter<AtomicFile>>;

/// The compressor between the tar stream and the blob file.
pub struct Compressor(Codec);

enum Codec {
    None(BlobWriter),
    Gzip(ParallelGzip<BlobWriter>),
    Zstd(zstd::stream::write::Encoder<'static, BlobWriter>),
    Estargz(Box<Estargz>),
}

/// The whole tar, kept until it can be written as eStargz.
struct Estargz {
    scratch: BufWriter<File>,
    output: BlobWriter,
    options: sematic_estargz::Options,
}

/// What an eStargz blob adds to its descriptor: the facts of the tar actually written.
pub struct EstargzFacts {
    pub toc_digest: Digest,
    pub diff_id: Digest,
    pub uncompressed_size: u64,
}

impl EstargzFacts {
    /// The descriptor of the blob with `digest` and `size` written from a tar of `entries`
    /// (the landmark and the TOC are entries too).
    pub fn descriptor(self, digest: Digest, size: u64, entries: u64) -> LayerDescriptor {
        LayerDescriptor {
            media_type: OCI_LAYER_GZIP.to_owned(),
            digest,
            size,
            diff_id: self.diff_id,
            entries: entries + 2,
            uncompressed_size: self.uncompressed_size,
            toc_digest: Some(self.toc_digest),
        }
    }
}

/// A compressor writing an eStargz layer blob at `blob` (through a temporary file) on `jobs`
/// threads, with `prioritized` (paths as in the tar) first; its scratch tar is an unnamed file
/// beside it.
pub fn estargz_compressor(blob: &Path, prioritized: &[String], jobs: usize) -> Result<Compressor> {
    let options = sematic_estargz::Options {
        prioritized: prioritized.to_vec(),
        jobs,
        ..Default::default()
    };
    let scratch_dir = match blob.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok(
        Compressor::estargz(blob_writer(blob)?, scratch_dir, options)
            .with_context(|| format!("starting the eStargz writer for {}", blob.display()))?,
    )
}

impl Compressor {
    /// A compressor writing one gzip member, zstd frame or plain run into `output`. eStargz
    /// here means its pieces: plain gzip, inflated again when assembled into a layer.
    pub fn new(compression: Compression, output: BlobWriter, jobs: usize) -> io::Result<Self> {
        Ok(Compressor(match compression {
            Compression::None => Codec::None(output),
            Compression::Gzip | Compression::Estargz => {
                Codec::Gzip(ParallelGzip::new(output, jobs)?)
            }
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(output, ZSTD_LEVEL)?;
                // With one or more workers libzstd cuts the input into jobs whose size depends
                // only on the compression parameters, so the frame is the same for any worker
                // count (the tests check this); zero workers would use a different code path.
                encoder.multithread(u32::try_from(jobs.max(1)).unwrap_or(u32::MAX))?;
                encoder.include_checksum(true)?;
                Codec::Zstd(encoder)
            }
        }))
    }

    /// A compressor writing an eStargz blob into `output`, keeping the tar in a scratch file
    /// in `scratch_dir` until [`Compressor::finish`].
    pub fn estargz(
        output: BlobWriter,
        scratch_dir: &Path,
        options: sematic_estargz::Options,
    ) -> io::Result<Self> {
        let scratch = BufWriter::with_capacity(OUTPUT_BUFFER, tempfile::tempfile_in(scratch_dir)?);
        Ok(Compressor(Codec::Estargz(Box::new(Estargz {
            scratch,
            output,
            options,
        }))))
    }

    /// Ends the member, frame or run; returns the blob writer for the next one, and for
    /// eStargz what its descriptor needs.
    pub fn finish(self) -> io::Result<(BlobWriter, Option<EstargzFacts>)> {
        match self.0 {
            Codec::None(output) => Ok((output, None)),
            Codec::Gzip(gzip) => Ok((gzip.finish()?, None)),
            Codec::Zstd(encoder) => Ok((encoder.finish()?, None)),
            Codec::Estargz(estargz) => {
                let Estargz {
                    scratch,
                    mut output,
                    options,
                } = *estargz;
                let mut tar = scratch.into_inner().map_err(|err| err.into_error())?;
                tar.rewind()?;
                let blob = sematic_estargz::write(io::BufReader::new(tar), &mut output, &options)
                    .map_err(io::Error::other)?;
                let digest = |text: &str| Digest::parse(text).map_err(io::Error::other);
                let facts = EstargzFacts {
                    toc_digest: digest(&blob.toc_digest)?,
                    diff_id: digest(&blob.diff_id)?,
                    uncompressed_size: blob.uncompressed_size,
                };
                Ok((output, Some(facts)))
            }
        }
    }
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Codec::None(output) => output.write(buf),
            Codec::Gzip(gzip) => gzip.write(buf),
            Codec::Zstd(encoder) => encoder.write(buf),
            Codec::Estargz(estargz) => estargz.scratch.write(buf),
        }
    }

    /// A flush would end a zstd block early and change the blob's bytes, so only
    /// [`LayerStream::finish`] flushes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts writing the blob file at `blob` (through a temporary file).
pub fn blob_writer(blob: &Path) -> Result<BlobWriter> {
    let file = AtomicFile::create(blob)?;
    Ok(HashingWriter::new(BufWriter::with_capacity(
        OUTPUT_BUFFER,
        file,
    )))
}

/// The tar writer of a layer: its bytes are hashed (diff_id) and then compressed.
pub type LayerTar = TarWriter<HashingWriter<Compressor>>;

/// A layer blob being written.
pub struct LayerStream {
    tar: LayerTar,
    compression: Compression,
    blob: std::path::PathBuf,
}

/// A finished layer: its descriptor and the blob file, not yet renamed into place.
pub struct FinishedLayer {
    pub descriptor: LayerDescriptor,
    pub blob: AtomicFile,
}

impl FinishedLayer {
    /// Writes the descriptor to `path` and renames the blob, then the descriptor, into place.
    pub fn commit(self, path: &Path) -> Result<()> {
        let descriptor = self.descriptor.prepare(path)?;
        self.blob.commit()?;
        Ok(descriptor.commit()?)
    }
}

impl LayerStream {
    /// Starts writing the layer blob at `blob` (through a temporary file) with `jobs`
    /// compression threads.
    pub fn create(blob: &Path, compression: Compression, jobs: usize) -> Result<Self> {
        Self::create_prioritized(blob, compression, jobs, &[])
    }

    /// [`LayerStream::create`], and for eStargz the paths (as in the tar) to write first,
    /// before the prefetch landmark.
    pub fn create_prioritized(
        blob: &Path,
        compression: Compression,
        jobs: usize,
        prioritized: &[String],
    ) -> Result<Self> {
        if compression != Compression::Estargz {
            return Self::create_piece(blob, compression, jobs);
        }
        let compressor = estargz_compressor(blob, prioritized, jobs)?;
        Ok(LayerStream {
            tar: TarWriter::new(HashingWriter::new(compressor)),
            compression,
            blob: blob.to_owned(),
        })
    }

    /// Starts writing a piece (or a layer other than eStargz) at `blob`.
    pub fn create_piece(blob: &Path, compression: Compression, jobs: usize) -> Result<Self> {
        let output = blob_writer(blob)?;
        let compressor = Compressor::new(compression, output, jobs)
            .with_context(|| format!("starting the compressor for {}", blob.display()))?;
        Ok(LayerStream {
            tar: TarWriter::new(HashingWriter::new(compressor)),
            compression,
            blob: blob.to_owned(),
        })
    }

    /// Where the entries go.
    pub fn tar(&mut self) -> &mut LayerTar {
        &mut self.tar
    }

    /// Ends the archive and the compressed stream, and describes the result.
    pub fn finish(self) -> Result<FinishedLayer> {
        let entries = self.tar.entries();
        let context = format!("writing {}", self.blob.display());
        let tar = self.tar.finish().context(context.clone())?;
        let (compressor, diff_id, uncompressed_size) = tar.finish();
        let (output, estargz) = compressor.finish().context(context.clone())?;
        let (blob, digest, size) = finish_blob(output).context(context)?;
        // Layers are described in the OCI family; the image step maps them to its base's family.
        let descriptor = match estargz {
            None => LayerDescriptor {
                media_type: Family::Oci.layer(self.compression)?.to_owned(),
                digest,
                size,
                diff_id,
                entries,
                uncompressed_size,
                toc_digest: None,
            },
            Some(facts) => facts.descriptor(digest, size, entries),
        };
        Ok(FinishedLayer { descriptor, blob })
    }

    /// Ends the compressed stream without the end-of-archive marker (a piece, see
    /// [`crate::piece`]); `first` and `last` are the names of its first and last entries.
    pub fn finish_piece(self, first: &str, last: &str) -> Result<FinishedPiece> {
        let entries = self.tar.entries();
        let context = format!("writing {}", self.blob.display());
        let tar = self.tar.finish_piece().context(context.clone())?;
        let (compressor, uncompressed_digest, uncompressed_size) = tar.finish();
        let (blob, digest, size) = close(compressor).context(context)?;
        Ok(FinishedPiece {
            descriptor: PieceDescriptor {
                compression: self.compression,
                digest,
                size,
                uncompressed_digest,
                uncompressed_size,
                entries,
                first: first.to_owned(),
                last: last.to_owned(),
            },
            blob,
        })
    }
}

/// A finished piece: its descriptor and the blob file, not yet renamed into place.
pub struct FinishedPiece {
    pub descriptor: PieceDescriptor,
    pub blob: AtomicFile,
}

/// Ends the compressed stream: the blob file (uncommitted), its digest and its size.
pub fn close(compressor: Compressor) -> io::Result<(AtomicFile, Digest, u64)> {
    finish_blob(compressor.finish()?.0)
}

/// Flushes the blob file: the file (uncommitted), its digest and its size.
pub fn finish_blob(output: BlobWriter) -> io::Result<(AtomicFile, Digest, u64)> {
    let (buffered, digest, size) = output.finish();
    let blob = buffered.into_inner().map_err(|err| err.into_error())?;
    Ok((blob, digest, size))
}
