//! sematic-layer: builds one reproducible OCI layer blob and its descriptor.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{ArgGroup, Parser};
use sematic_layer::from_tar::RootfsIndex;
use sematic_layer::manifest::Manifest;
use sematic_layer::plan::Plan;
use sematic_layer::stream::LayerStream;
use sematic_oci_core::media_type::Compression;

/// Build one reproducible OCI layer in a single streaming pass: tar (sorted, mtime
/// 1970-01-01, uid/gid 0 unless --from-tar), sha256 of the tar (the diff_id), compression,
/// sha256 of the blob (the digest).
#[derive(Parser)]
#[command(name = "sematic-layer", version)]
#[command(group(ArgGroup::new("input").required(true).args(["manifest", "from_tar"])))]
struct Cli {
    /// JSON list of the layer's entries ({"symlink_root": …, "entries": [{"path", "kind", …}]}),
    /// written by the Starlark rule. Kinds: file, empty, dir, symlink, tree, link.
    #[arg(long, value_name = "ENTRIES.json")]
    manifest: Option<PathBuf>,

    /// An existing root filesystem tar to normalise into a layer (sorted, times dropped, numeric
    /// owners, modes, links and devices kept), e.g. from `mmdebstrap --variant=extract`.
    #[arg(long, value_name = "ROOTFS.tar")]
    from_tar: Option<PathBuf>,

    /// Where to write the layer blob. Written to a temporary file and renamed into place only
    /// when the whole layer succeeded.
    #[arg(long, value_name = "BLOB")]
    output: PathBuf,

    /// Where to write the layer's descriptor JSON (mediaType, digest, size, diffId, entries,
    /// uncompressedSize) for sematic-image.
    #[arg(long, value_name = "DESCRIPTOR.json")]
    descriptor: PathBuf,

    /// Blob compression. gzip is deflate level 6 in 1 MiB blocks (identical bytes for any
    /// --jobs); zstd is level 3 and needs an OCI base; none stores the tar as is.
    #[arg(long, value_name = "gzip|zstd|none", default_value = "gzip", value_parser = Compression::parse)]
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
    let stream = match (&cli.manifest, &cli.from_tar) {
        (Some(manifest), _) => {
            let plan = Plan::build(&Manifest::read(manifest)?)?;
            let mut stream = LayerStream::create(&cli.output, cli.compression, jobs)?;
            plan.write(stream.tar())?;
            stream
        }
        (None, Some(rootfs)) => {
            let mut index = RootfsIndex::open(rootfs)?;
            let mut stream = LayerStream::create(&cli.output, cli.compression, jobs)?;
            index.write(stream.tar())?;
            stream
        }
        (None, None) => bail!("give --manifest ENTRIES.json or --from-tar ROOTFS.tar"),
    };
    let layer = stream.finish()?;
    let descriptor = layer.descriptor.prepare(&cli.descriptor)?;
    layer.blob.commit()?;
    descriptor.commit()
}
