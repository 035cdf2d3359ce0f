//! `sematic-push`: push an OCI image layout to a registry, by digest, then tag it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;
use sematic_cli::registry::{ConnectionArgs, TransferArgs};
use sematic_cli::stamp::Status;
use sematic_oci_core::fsutil::write_atomic;
use sematic_oci_core::reference::Reference;
use sematic_registry::push::{push_images, ImageSpec};

const PROGRAM: &str = "sematic-push";

/// Push an OCI image layout to a registry.
///
/// Blobs the repository already has are skipped; blobs a sparse layout lacks are mounted from
/// (same registry) or streamed from (another registry) the repository named by the layout's
/// `dev.rules-sematic.source` annotation. The manifest is pushed by digest once every blob is
/// in place, then tagged. Stdout gets exactly one line, `REGISTRY/REPO@sha256:<hex>`; stderr
/// ends with `sematic-push: summary: uploaded=N (B bytes) existed=N mounted=N streamed=N
/// manifest=pushed|existed tags=T1,T2|-`. With --also-repository, each further repository
/// gets its line and its summary after those of --repository, in the order given.
///
/// Credentials come from $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json (else
/// ~/.docker/config.json, with credHelpers and credsStore), then podman's auth.json files.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, args_override_self = true)]
struct Args {
    /// OCI image layout directory holding one image manifest.
    #[arg(long, value_name = "DIR")]
    layout: PathBuf,

    /// Destination, REGISTRY/REPO (no tag). Like every single-valued flag it may be given
    /// again, the last one winning, so a wrapper can pass defaults that the user overrides.
    /// Without a registry part (`team/app`), the repository is in --registry.
    #[arg(long, value_name = "REGISTRY/REPO")]
    repository: String,

    /// Also push the image, with the same tags, to this repository (repeatable; REGISTRY/REPO,
    /// or REPO in --registry). A blob goes to a registry once: the other repositories of that
    /// registry mount it from the first (and get it uploaded if the registry refuses mounts).
    #[arg(long = "also-repository", value_name = "REGISTRY/REPO")]
    also_repositories: Vec<String>,

    /// Registry of a --repository that names none. Without it, such a repository is refused
    /// (never silently Docker Hub: write docker.io/team/app for that).
    #[arg(long, value_name = "REGISTRY")]
    registry: Option<String>,

    /// Tag to point at the pushed manifest (repeatable; all given tags are applied). `{KEY}`
    /// is replaced by KEY's value in the --status-file files.
    #[arg(long = "tag", value_name = "TAG", allow_hyphen_values = true)]
    tags: Vec<String>,

    /// A Bazel workspace status file (`KEY VALUE` lines) for `{KEY}` in tags (repeatable;
    /// push targets pass stable-status.txt and volatile-status.txt under --stamp).
    #[arg(long = "status-file", value_name = "FILE")]
    status_files: Vec<PathBuf>,

    /// Also write the pushed reference line (of --repository) to FILE (atomically, with a
    /// trailing newline).
    #[arg(long, value_name = "FILE")]
    ref_file: Option<PathBuf>,

    /// Skip TLS certificate verification for the destinations and allow plain HTTP to them.
    /// Loopback registries may use plain HTTP without this flag.
    #[arg(long)]
    insecure: bool,

    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    transfer: TransferArgs,
}

fn main() -> ExitCode {
    sematic_cli::main(PROGRAM, run)
}

fn run(args: Args) -> Result<()> {
    let mut repositories = vec![destination(&args.repository, args.registry.as_deref())?];
    for also in &args.also_repositories {
        let repository = destination(also, args.registry.as_deref())?;
        if !repositories.contains(&repository) {
            repositories.push(repository);
        }
    }
    let status = Status::read(&args.status_files)?;
    let tags = status.tags(&args.tags)?;
    // --insecure relaxes every destination registry (each warned about once).
    let insecure: BTreeSet<String> = match args.insecure {
        true => repositories.iter().map(|r| r.registry.clone()).collect(),
        false => BTreeSet::new(),
    };
    let client = args.connection.client(PROGRAM, insecure, &[])?;
    let progress = args.transfer.progress(PROGRAM)?;
    let specs: Vec<ImageSpec> = repositories
        .into_iter()
        .map(|repository| ImageSpec {
            label: args.layout.display().to_string(),
            layout: args.layout.clone(),
            repository,
            tags: tags.clone(),
        })
        .collect();
    let results = push_images(&client, &specs, args.transfer.jobs(), &progress);
    progress.finish();
    let pushed = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let lines: Vec<String> = pushed.iter().map(|p| p.reference.to_string()).collect();
    for image in &pushed {
        eprintln!("{PROGRAM}: summary: {}", image.summary());
    }
    if let Some(file) = &args.ref_file {
        write_atomic(file, format!("{}\n", lines[0]).as_bytes())?;
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// The repository to push to: `--repository` as given, or in `--registry` when it names no
/// registry of its own.
fn destination(repository: &str, registry: Option<&str>) -> Result<Reference> {
    match registry {
        Some(registry) => Ok(Reference::parse_repository_in(repository, registry)?),
        None => {
            let reference = Reference::parse_repository(repository)?;
            let explicit = repository
                .split_once('/')
                .is_some_and(|(first, _)| reference.registry == first);
            if !explicit {
                bail!(
                    "--repository {repository:?} names no registry: write REGISTRY/{repository} (docker.io/{repository} for Docker Hub)"
                );
            }
            Ok(reference)
        }
    }
}
