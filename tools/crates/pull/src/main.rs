//! `sematic-pull`: fetch a digest-pinned image's manifest and config (optionally its layers)
//! into an OCI image layout, to serve as a base image.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use sematic_cli::registry::ConnectionArgs;
use sematic_oci_core::platform::Platform;
use sematic_oci_core::reference::Reference;
use sematic_registry::pull::{pull_image, Layers, PullSpec};

const PROGRAM: &str = "sematic-pull";

/// Fetch a digest-pinned image into an OCI image layout.
///
/// The layout's index.json lists the pinned descriptor (an image manifest, or an index of
/// which the manifest of every --platform is fetched too), annotated with
/// `dev.rules-sematic.source=REGISTRY/REPO` so that sematic-push can mount or stream the
/// layer blobs a shallow layout lacks. Every manifest and blob is verified against its
/// digest. The layout is built in a temporary directory next to DIR and renamed into place.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, args_override_self = true)]
struct Args {
    /// Image to fetch, pinned by digest: REGISTRY/REPO@sha256:HEX (a tag may precede the
    /// digest; it is ignored).
    #[arg(long, value_name = "REGISTRY/REPO@sha256:HEX")]
    image: String,

    /// Directory to write the layout to (replaced if it exists).
    #[arg(long, value_name = "DIR")]
    output: PathBuf,

    /// Platform to fetch when the digest names an image index (repeatable: each one's
    /// manifest and config are fetched); a single-manifest image must be for it.
    #[arg(
        long = "platform",
        value_name = "OS/ARCH[/VARIANT]",
        default_value = "linux/amd64"
    )]
    platforms: Vec<String>,

    /// Which blobs of the image go into the layout.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = Layers::Shallow)]
    layers: Layers,

    /// Skip TLS certificate verification for this registry and allow plain HTTP to it.
    /// Loopback registries may use plain HTTP without this flag.
    #[arg(long)]
    insecure: bool,

    #[command(flatten)]
    connection: ConnectionArgs,

    /// Layer blobs downloaded in parallel (with --layers all).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
}

fn main() -> ExitCode {
    sematic_cli::main(PROGRAM, run)
}

fn run(args: Args) -> Result<()> {
    let image = Reference::parse(&args.image)?;
    let platforms = args
        .platforms
        .iter()
        .map(|p| Platform::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let insecure = args.insecure.then(|| image.registry.clone());
    let client = args.connection.client(PROGRAM, insecure, &[])?;
    let layers = args.layers;
    let pulled = pull_image(
        &client,
        &PullSpec {
            image: &image,
            platforms: &platforms,
            layers,
            output: &args.output,
            jobs: usize::from(args.jobs),
        },
    )?;
    eprintln!(
        "{PROGRAM}: {} -> {} ({} image{}, {} layers {})",
        pulled.reference,
        args.output.display(),
        pulled.images,
        if pulled.images == 1 { "" } else { "s" },
        pulled.layers,
        match layers {
            Layers::All => "downloaded",
            Layers::Shallow => "left in the registry",
        }
    );
    Ok(())
}
