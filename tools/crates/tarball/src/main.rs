//! sematic-tarball: an image layout as a tar for `docker load` / `podman load`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use sematic_oci_core::platform::Platform;
use sematic_tarball::archive::RepoTag;
use sematic_tarball::pack::pack;

/// Pack an OCI image layout into a tar that `docker load` and `podman load` accept (OCI layout
/// plus Docker's manifest.json). Every layer must be in the layout: a shallow base cannot be
/// packed. Same inputs, same bytes.
#[derive(Parser)]
#[command(name = "sematic-tarball", version)]
struct Cli {
    /// The image layout to pack, as written by sematic-image.
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,

    /// Where to write the tar (through a temporary file, renamed into place on success).
    #[arg(long, value_name = "FILE.tar")]
    output: PathBuf,

    /// Name the loaded image gets, as registry/repository:tag. Repeat for several names.
    #[arg(long = "repo-tag", value_name = "REPO:TAG", required = true, value_parser = RepoTag::parse)]
    repo_tags: Vec<RepoTag>,

    /// Which image to pack when the layout's entry is an image index.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64", value_parser = Platform::parse)]
    platform: Platform,
}

fn main() -> ExitCode {
    sematic_cli::main("sematic-tarball", run)
}

fn run(cli: Cli) -> Result<()> {
    Ok(pack(
        &cli.layout,
        &cli.platform,
        &cli.repo_tags,
        &cli.output,
    )?)
}
