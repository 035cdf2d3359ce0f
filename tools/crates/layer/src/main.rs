//! sematic-layer: builds one reproducible OCI layer blob and its descriptor.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use sematic_layer::assemble::{assemble, BlobArg};
use sematic_layer::from_manifest::{self, Target};
use sematic_layer::from_tar;
use sematic_oci_core::media_type::Compression;

/// Build one reproducible OCI layer in a single streaming pass: tar (sorted, mtime
/// 1970-01-01, uid/gid 0 unless from a rootfs tar), sha256 of the tar (the diff_id),
/// compression, sha256 of the blob (the digest). Or a piece of a layer (manifest --piece), or
/// a layer assembled from pieces without compressing them again (assemble).
#[derive(Parser)]
#[command(name = "sematic-layer", version, arg_required_else_help = false)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// A layer (or a piece of one) from the entries the Starlark rule lists.
    Manifest {
        /// The layer's entries (docs/formats.md, "Layer manifest").
        #[arg(value_name = "ENTRIES.json")]
        manifest: PathBuf,

        /// Write a piece instead of a layer: only what is at or below ROOT (an absolute path;
        /// its parent directories are left out), and no end-of-archive marker, for assemble to
        /// concatenate. The descriptor is then a piece descriptor.
        #[arg(long, value_name = "ROOT")]
        piece: Option<String>,

        /// Also write a report of the ELF files written (docs/formats.md, "Native report"), for
        /// sematic-image --native-report to check against the image's CPU and its base's C
        /// library. Written like the blob, only when the whole layer succeeded.
        #[arg(long, value_name = "REPORT.json")]
        native_report: Option<PathBuf>,

        /// Split the layer by file into balanced layers: --output and --descriptor get the
        /// first, each --part one more (repeat). Each part holds the parent directories of its
        /// files; the parts depend only on the files' names and sizes. For a distribution too
        /// large to upload at link speed over one connection.
        #[arg(long = "part", value_name = "DESCRIPTOR.json=BLOB", value_parser = BlobArg::parse, conflicts_with = "piece")]
        parts: Vec<BlobArg>,

        #[command(flatten)]
        out: Output,
    },
    /// A layer from an existing root filesystem tar, normalised (sorted, times dropped,
    /// numeric owners, modes, links and devices kept), e.g. from `mmdebstrap --variant=extract`.
    FromTar {
        #[arg(value_name = "ROOTFS.tar")]
        rootfs: PathBuf,

        #[command(flatten)]
        out: Output,
    },
    /// A layer assembled from pieces, in this order, without compressing them again: the
    /// --directory entries, each piece, then the end-of-archive marker.
    Assemble {
        #[arg(value_name = "PIECE.json=BLOB", required = true, value_parser = BlobArg::parse)]
        pieces: Vec<BlobArg>,

        /// A directory entry (mode 0755) before the pieces, e.g. the pieces' common parents
        /// /app and /app/_ext. Repeat, parents first.
        #[arg(long = "directory", value_name = "PATH")]
        directories: Vec<String>,

        #[command(flatten)]
        out: Output,
    },
}

/// What every mode writes, and how.
#[derive(Args)]
struct Output {
    /// Where to write the layer blob. Written to a temporary file and renamed into place only
    /// when the whole layer succeeded.
    #[arg(long, value_name = "BLOB")]
    output: PathBuf,

    /// Where to write the layer's descriptor JSON (mediaType, digest, size, diffId, entries,
    /// uncompressedSize) for sematic-image.
    #[arg(long, value_name = "DESCRIPTOR.json")]
    descriptor: PathBuf,

    /// Blob compression.
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    compression: Compression,

    /// Compression threads. Does not change the output bytes. Default: available parallelism.
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,

    /// With --compression estargz: a path in the layer (e.g. app/main.py) to write, with its
    /// parents, before the prefetch landmark (fetched before a lazily pulled container starts).
    #[arg(long = "prioritize", value_name = "PATH")]
    prioritized: Vec<String>,
}

impl Output {
    /// The target, once the descriptor is known not to overwrite the blob it describes.
    fn target(&self) -> Result<Target<'_>> {
        if std::path::absolute(&self.descriptor)? == std::path::absolute(&self.output)? {
            bail!(
                "--descriptor and --output are both {}: give each its own file",
                self.output.display()
            );
        }
        let jobs = self
            .jobs
            .or_else(|| std::thread::available_parallelism().ok());
        Ok(Target {
            blob: &self.output,
            descriptor: &self.descriptor,
            compression: self.compression,
            jobs: jobs.map_or(1, NonZeroUsize::get),
            prioritized: &self.prioritized,
        })
    }
}

fn main() -> ExitCode {
    sematic_cli::main("sematic-layer", run)
}

// Everything that can be checked without writing is checked before the blob is started.
fn run(cli: Cli) -> Result<()> {
    match &cli.mode {
        Mode::Manifest {
            manifest,
            piece,
            native_report,
            parts,
            out,
        } => {
            if !parts.is_empty() && !out.prioritized.is_empty() {
                bail!("--prioritize and --part: a split layer has no prioritized files; drop one of them");
            }
            let (piece, report) = (piece.as_deref(), native_report.as_deref());
            from_manifest::write(manifest, piece, report, &out.target()?, parts)?;
        }
        Mode::FromTar { rootfs, out } => from_tar::write(rootfs, &out.target()?)?,
        Mode::Assemble {
            pieces,
            directories,
            out,
        } => {
            let t = out.target()?;
            assemble(pieces, directories, &t)?.commit(t.descriptor)?;
        }
    }
    Ok(())
}
