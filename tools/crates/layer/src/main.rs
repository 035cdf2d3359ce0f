//! sematic-layer: builds one reproducible OCI layer blob and its descriptor.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{ArgGroup, Parser};
use sematic_layer::assemble::{assemble, PieceArg};
use sematic_layer::from_tar::RootfsIndex;
use sematic_layer::manifest::Manifest;
use sematic_layer::plan::Plan;
use sematic_layer::stream::LayerStream;
use sematic_oci_core::media_type::Compression;
use sematic_oci_core::native_report::NativeReport;

/// Build one reproducible OCI layer in a single streaming pass: tar (sorted, mtime
/// 1970-01-01, uid/gid 0 unless --from-tar), sha256 of the tar (the diff_id), compression,
/// sha256 of the blob (the digest). Or a piece of a layer (--piece), or a layer assembled from
/// pieces without compressing them again (--assemble).
#[derive(Parser)]
#[command(name = "sematic-layer", version)]
#[command(group(ArgGroup::new("input").required(true).args(["manifest", "from_tar", "assemble"])))]
struct Cli {
    /// JSON list of the layer's entries ({"symlink_root": …, "entries": [{"path", "kind", …}]}),
    /// written by the Starlark rule. Kinds: file, empty, dir, symlink, tree, link.
    #[arg(long, value_name = "ENTRIES.json")]
    manifest: Option<PathBuf>,

    /// An existing root filesystem tar to normalise into a layer (sorted, times dropped, numeric
    /// owners, modes, links and devices kept), e.g. from `mmdebstrap --variant=extract`.
    #[arg(long, value_name = "ROOTFS.tar")]
    from_tar: Option<PathBuf>,

    /// Write a piece instead of a layer: only what is at or below ROOT (an absolute path; its
    /// parent directories are left out), and no end-of-archive marker, for --assemble to
    /// concatenate. The descriptor is then a piece descriptor. Needs --manifest.
    #[arg(long, value_name = "ROOT", requires = "manifest")]
    piece: Option<String>,

    /// Assemble the layer from pieces, in this order, without compressing them again: the
    /// --directory entries, each piece, then the end-of-archive marker. Repeat.
    #[arg(long = "assemble", value_name = "PIECE.json=BLOB", value_parser = PieceArg::parse)]
    assemble: Vec<PieceArg>,

    /// A directory entry (mode 0755) before the pieces of --assemble, e.g. the pieces' common
    /// parents /app and /app/_ext. Repeat, parents first.
    #[arg(long = "directory", value_name = "PATH", requires = "assemble")]
    directories: Vec<String>,

    /// Also write a report of the native code written (needs --manifest; a layer or a
    /// --piece): JSON {"elf": [{"path", "machine", "kind", "libc", "glibc", "needed"}, …]},
    /// one record per file starting with \x7fELF, sorted by path, for sematic-image
    /// --native-report to check against the image's CPU and its base's C library. ELF files are
    /// recognised while they are streamed into the tar; only their headers and dynamic
    /// sections are read again. Written like the blob, only when the whole layer succeeded.
    #[arg(long, value_name = "REPORT.json", conflicts_with_all = ["from_tar", "assemble"])]
    native_report: Option<PathBuf>,

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
}

fn main() -> ExitCode {
    sematic_cli::main("sematic-layer", run)
}

fn run(cli: Cli) -> Result<()> {
    let jobs = cli
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    // Everything that can be checked without writing is checked before the blob is started.
    if std::path::absolute(&cli.descriptor)? == std::path::absolute(&cli.output)? {
        bail!(
            "--descriptor and --output are both {}: give each its own file",
            cli.output.display()
        );
    }
    let layer = match (&cli.manifest, &cli.from_tar) {
        (Some(manifest), _) => return from_manifest(&cli, manifest, jobs),
        (None, Some(rootfs)) => {
            let mut index = RootfsIndex::open(rootfs)?;
            let mut stream = LayerStream::create(&cli.output, cli.compression, jobs)?;
            index.write(stream.tar())?;
            stream.finish()?
        }
        (None, None) if !cli.assemble.is_empty() => assemble(
            &cli.assemble,
            &cli.directories,
            cli.compression,
            &cli.output,
            jobs,
        )?,
        (None, None) => {
            bail!(
                "give --manifest ENTRIES.json, --from-tar ROOTFS.tar or --assemble PIECE.json=BLOB"
            )
        }
    };
    let descriptor = layer.descriptor.prepare(&cli.descriptor)?;
    layer.blob.commit()?;
    Ok(descriptor.commit()?)
}

/// A layer or a piece from a manifest, with its native report if asked for.
fn from_manifest(cli: &Cli, manifest: &Path, jobs: usize) -> Result<()> {
    let mut plan = Plan::build(&Manifest::read(manifest)?)?;
    if let Some(root) = &cli.piece {
        plan.restrict_to(root)?;
    }
    let mut stream = LayerStream::create(&cli.output, cli.compression, jobs)?;
    let mut native = cli.native_report.as_ref().map(|_| NativeReport::default());
    plan.write(stream.tar(), native.as_mut().map(|report| &mut report.elf))?;
    // Every output is complete in its temporary file before the first is renamed into place.
    let (blob, descriptor) = if cli.piece.is_some() {
        let (first, last) = plan.first_and_last().unwrap_or(("", ""));
        let piece = stream.finish_piece(first, last)?;
        (piece.blob, piece.descriptor.prepare(&cli.descriptor)?)
    } else {
        let layer = stream.finish()?;
        (layer.blob, layer.descriptor.prepare(&cli.descriptor)?)
    };
    let report = match (native, &cli.native_report) {
        (Some(native), Some(path)) => Some(native.prepare(path)?),
        _ => None,
    };
    blob.commit()?;
    if let Some(report) = report {
        report.commit()?;
    }
    Ok(descriptor.commit()?)
}
