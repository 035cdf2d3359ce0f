//! sematic-image: config + manifest + OCI image layout from a base and layer descriptors.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write;

use anyhow::{Context, Result};
use clap::Parser;
use sematic_image::assemble::{assemble, Base, LayerArg, Request};
use sematic_image::native_check::{parse_python_version, BaseLibc, NativeCheck};
use sematic_image::settings::Settings;
use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::native_report::Version;
use sematic_oci_core::platform::Platform;

/// Write an image's config, manifest and OCI image layout: the base image (or scratch) plus
/// the given layers, with entrypoint, env and other settings applied. Same inputs, same bytes.
/// Nothing is written if the layers' native code cannot run on the image (--native-report).
#[derive(Parser)]
#[command(name = "sematic-image", version)]
struct Cli {
    /// OCI image layout of the base image. Its layer blobs may be absent (a shallow base) if
    /// its index.json entry names their source repository. Without it the base is scratch.
    #[arg(long, value_name = "DIR")]
    base_layout: Option<PathBuf>,

    /// Which image of the base layout to use, by its org.opencontainers.image.ref.name
    /// annotation; needed only when the layout holds several.
    #[arg(long, value_name = "NAME", requires = "base_layout")]
    base_ref_name: Option<String>,

    /// Target platform: chooses the image from a base index, must match a single-image base,
    /// and is the os/architecture of a scratch image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64", value_parser = Platform::parse)]
    platform: Platform,

    /// A layer to append after the base layers, as the descriptor and blob written by
    /// sematic-layer. Repeat in order.
    #[arg(long = "layer", value_name = "DESCRIPTOR.json=BLOB", value_parser = LayerArg::parse)]
    layers: Vec<LayerArg>,

    /// A native code report written by sematic-layer --native-report for one of the layers.
    /// Repeat. Before anything is written, every ELF executable and shared library they list
    /// must be for the --platform CPU (linux/amd64: x86_64, linux/arm64: aarch64) and, with
    /// --libc, for the base's C library and no newer glibc; else the build fails naming the
    /// worst file and its distribution.
    #[arg(long = "native-report", value_name = "REPORT.json")]
    native_reports: Vec<PathBuf>,

    /// The base image's C library, "glibc X.Y" or "musl X.Y" (e.g. "glibc 2.36"), for checking
    /// the --native-report files. Without it only their CPU is checked.
    #[arg(long, value_name = "glibc X.Y|musl X.Y", value_parser = BaseLibc::parse)]
    libc: Option<BaseLibc>,

    /// The Python version X.Y the image's wheels are for. If the base's config sets
    /// PYTHON_VERSION (the official python images do), its X.Y must be this one.
    #[arg(long, value_name = "X.Y", value_parser = parse_python_version)]
    python_version: Option<Version>,

    /// Image settings JSON: entrypoint, cmd, env, workdir, user, labels and one layer_history
    /// comment per --layer.
    #[arg(long, value_name = "SETTINGS.json")]
    config_json: PathBuf,

    /// Directory to write the OCI image layout to (replaced if it exists, atomically).
    #[arg(long, value_name = "DIR")]
    output_layout: PathBuf,

    /// File to write the image manifest digest to, as `sha256:<hex>` without a newline.
    #[arg(long, value_name = "FILE")]
    digest_file: PathBuf,

    /// Value of the org.opencontainers.image.ref.name annotation on the layout's index entry.
    #[arg(long, value_name = "NAME", default_value = "latest")]
    ref_name: String,
}

fn main() -> ExitCode {
    sematic_cli::main("sematic-image", run)
}

fn run(cli: Cli) -> Result<()> {
    let request = Request {
        base: cli.base_layout.as_deref().map(|layout| Base {
            layout,
            ref_name: cli.base_ref_name.as_deref(),
        }),
        platform: cli.platform,
        layers: &cli.layers,
        settings: Settings::read(&cli.config_json)?,
        ref_name: &cli.ref_name,
        native: &NativeCheck {
            reports: cli.native_reports,
            libc: cli.libc,
            python_version: cli.python_version,
        },
    };
    let image = assemble(&request, &cli.output_layout)?;
    if let Some(layer) = &image.eager_base_layer {
        eprintln!(
            "sematic-image: warning: base layer {layer} is not eStargz, and containerd pulls every layer from the first one it cannot mount lazily up whole: to pull {} lazily, build it on an eStargz base (e.g. //images:python3_estargz, or sematic_base_image(compression = \"estargz\"))",
            cli.output_layout.display()
        );
    }
    let mut digest_file = AtomicFile::create(&cli.digest_file)?;
    digest_file
        .write_all(image.digest.to_string().as_bytes())
        .with_context(|| format!("writing {}", cli.digest_file.display()))?;
    image.layout.commit()?;
    Ok(digest_file.commit()?)
}
