//! `sematic-pull`: fetch a digest-pinned image's manifest and config (optionally its layers)
//! into an OCI image layout, to serve as a base image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use clap::Parser;
use oci_spec::image::{ImageIndex, ImageManifest};
use sematic_oci_core::layout::{
    choose_platform, descriptor, descriptor_digest, LayoutWriter, SOURCE_ANNOTATION,
};
use sematic_oci_core::media_type::{classify_manifest, ManifestKind};
use sematic_oci_core::platform::Platform;
use sematic_oci_core::reference::Reference;
use sematic_registry::cli::{self, ConnectionArgs};
use sematic_registry::pool::parallel;

const PROGRAM: &str = "sematic-pull";

/// Fetch a digest-pinned image into an OCI image layout.
///
/// The layout's index.json lists the pinned descriptor (an image manifest, or an index of
/// which the manifest for --platform is fetched too), annotated with
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

    /// Platform to choose when the digest names an image index.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    platform: String,

    /// shallow: manifest and config only (push streams or mounts the layers later);
    /// all: also download every layer blob.
    #[arg(long, value_name = "MODE", default_value = "shallow", value_parser = ["shallow", "all"])]
    layers: String,

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
    let args: Args = cli::parse(PROGRAM);
    cli::report(PROGRAM, run(args))
}

fn run(args: Args) -> Result<()> {
    let reference = Reference::parse(&args.image)?;
    let platform = Platform::parse(&args.platform)?;
    let client = args.connection.client(PROGRAM)?;
    if args.insecure {
        client.allow_insecure(&reference.registry);
        cli::warn_insecure(PROGRAM, &reference.registry);
    }
    let registry = client.registry(&reference)?;
    let repository = reference.repository.as_str();
    let Some(digest) = reference.digest.clone() else {
        let tag = reference.tag.as_deref().unwrap_or("latest");
        let current = client
            .resolve_tag(&registry, repository, tag)
            .with_context(|| {
                format!(
                    "{} is not pinned by digest, and resolving its tag failed",
                    args.image
                )
            })?;
        bail!(
            "{} is not pinned by digest: pin it as {}@{current} (what tag {tag} resolves to now)",
            args.image,
            reference.name()
        );
    };

    let top = client.fetch_manifest(&registry, repository, &digest.to_string())?;
    let parent = parent_dir(&args.output);
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".sematic-pull-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let writer = LayoutWriter::create(staging.path())?;
    writer.put_blob_bytes(&top.bytes)?;

    let image = match classify_manifest(&top.media_type)? {
        ManifestKind::Image(_) => top.bytes.clone(),
        ManifestKind::Index(_) => {
            let index: ImageIndex = serde_json::from_slice(&top.bytes)
                .with_context(|| format!("{} is not a valid image index", args.image))?;
            let chosen = choose_platform(&index, &platform)
                .with_context(|| format!("image index {}", args.image))?;
            if let ManifestKind::Index(_) = classify_manifest(chosen.media_type().as_ref())? {
                bail!(
                    "image index {} nests another index for {platform}; not supported",
                    args.image
                );
            }
            let child = client.fetch_manifest(
                &registry,
                repository,
                &descriptor_digest(&chosen)?.to_string(),
            )?;
            writer.put_blob_bytes(&child.bytes)?;
            child.bytes
        }
    };
    let manifest: ImageManifest =
        serde_json::from_slice(&image).context("the image manifest is not valid")?;
    let config = manifest.config();
    let config_bytes = client.fetch_small_blob(
        &registry,
        repository,
        &descriptor_digest(config)?,
        config.size(),
    )?;
    check_platform(&config_bytes, &platform, &args.image)?;
    writer.put_blob_bytes(&config_bytes)?;

    if args.layers == "all" {
        let failures = Mutex::new(Vec::new());
        parallel(usize::from(args.jobs), manifest.layers(), |layer| {
            let result = descriptor_digest(layer).and_then(|layer_digest| {
                let download = staging
                    .path()
                    .join(format!(".download-{}", layer_digest.hex()));
                client.download_blob(
                    &registry,
                    repository,
                    &layer_digest,
                    layer.size(),
                    &download,
                )?;
                writer.put_blob_file(&download, &layer_digest)?;
                std::fs::remove_file(&download)
                    .with_context(|| format!("removing {}", download.display()))
            });
            if let Err(err) = result {
                failures.lock().unwrap_or_else(|p| p.into_inner()).push(err);
            }
        });
        let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = failures.into_iter().next() {
            return Err(first);
        }
    }

    let mut entry = descriptor(&top.media_type, &digest, top.bytes.len() as u64);
    entry.set_annotations(Some(
        [(SOURCE_ANNOTATION.to_owned(), reference.name())].into(),
    ));
    writer.finish(vec![entry])?;
    replace_dir(staging.keep(), &args.output)?;
    eprintln!(
        "{PROGRAM}: {} -> {} ({} layers {})",
        reference.with_digest(digest),
        args.output.display(),
        manifest.layers().len(),
        if args.layers == "all" {
            "downloaded"
        } else {
            "left in the registry"
        }
    );
    Ok(())
}

/// A single-platform image must be for the platform asked for.
fn check_platform(config: &[u8], platform: &Platform, image: &str) -> Result<()> {
    let value: serde_json::Value =
        serde_json::from_slice(config).context("the image config is not valid JSON")?;
    if let Some(found) = platform.config_mismatch(&value) {
        bail!("{image} is an image for {found}, not {platform}");
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Moves the finished layout to `output`, replacing whatever was there; the staged copy is
/// removed if that fails.
fn replace_dir(staged: PathBuf, output: &Path) -> Result<()> {
    let result = (|| {
        if std::fs::symlink_metadata(output).is_ok() {
            std::fs::remove_dir_all(output)
                .with_context(|| format!("replacing {}", output.display()))?;
        }
        std::fs::rename(&staged, output)
            .with_context(|| format!("moving {} to {}", staged.display(), output.display()))
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_dir_all(&staged);
    }
    result
}
