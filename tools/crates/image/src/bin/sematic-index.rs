//! sematic-index: one OCI image layout holding an image index over single-platform images.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use sematic_image::index::assemble_index;
use sematic_oci_core::fsutil::AtomicFile;

/// Write a multi-platform image: an OCI image layout whose index.json names one image index
/// listing the given images (one per platform, in order), with all their blobs. Base layer
/// blobs the images lack (shallow bases) stay absent; their source repository is kept.
#[derive(Parser)]
#[command(name = "sematic-index", version)]
struct Cli {
    /// An image layout written by sematic-image. Repeat, one per platform, in order.
    #[arg(long = "image", value_name = "DIR", required = true)]
    images: Vec<PathBuf>,

    /// Directory to write the OCI image layout to (replaced if it exists, atomically).
    #[arg(long, value_name = "DIR")]
    output_layout: PathBuf,

    /// File to write the index digest to, as `sha256:<hex>` without a newline.
    #[arg(long, value_name = "FILE")]
    digest_file: PathBuf,

    /// Value of the org.opencontainers.image.ref.name annotation on the layout's index entry.
    #[arg(long, value_name = "NAME", default_value = "latest")]
    ref_name: String,
}

fn main() -> ExitCode {
    sematic_cli::main("sematic-index", run)
}

fn run(cli: Cli) -> Result<()> {
    let images: Vec<&std::path::Path> = cli.images.iter().map(PathBuf::as_path).collect();
    let index = assemble_index(&images, &cli.output_layout, &cli.ref_name)?;
    let mut digest_file = AtomicFile::create(&cli.digest_file)?;
    digest_file
        .write_all(index.digest.to_string().as_bytes())
        .with_context(|| format!("writing {}", cli.digest_file.display()))?;
    index.layout.commit()?;
    Ok(digest_file.commit()?)
}
