//! `sematic-launch`: push a pipeline's images in parallel, then exec its launch script with
//! the pushed image URIs in Sematic's environment variables.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Parser;
use sematic_cli::registry::{ConnectionArgs, TransferArgs};
use sematic_cli::stamp::Status;
use sematic_oci_core::reference::Reference;
use sematic_oci_core::Digest;
use sematic_registry::push::{layout_digest, push_images, Counts, ImageSpec};
use sematic_registry::Client;
use serde::Deserialize;

mod argv;
mod presence;

const PROGRAM: &str = "sematic-launch";
const URIS_VAR: &str = "SEMATIC_CONTAINER_IMAGE_URIS";
const IMAGE_VAR: &str = "SEMATIC_CONTAINER_IMAGE";
const DEFAULT_KEY: &str = "default";

/// Push a Sematic pipeline's images, then exec its launch script.
///
/// Every image of the config is pushed in parallel (blobs shared between images are
/// transferred once); the launch script runs only if all pushes succeed, with
/// SEMATIC_CONTAINER_IMAGE_URIS = `::KEY##REGISTRY/REPO@sha256:HEX` for every key (sorted,
/// `default` first) and SEMATIC_CONTAINER_IMAGE = the URI when `default` is the only key
/// (otherwise removed: Sematic would ignore the other keys), and RUNFILES_DIR set.
///
/// LAUNCH.json: {"launch_binary": PATH, "images": [{"key", "layout", "repository", "tags",
/// "insecure", "ca_certs"}]}; PATH, layout and ca_certs are relative to the runfiles
/// directory.
///
/// Through `bazel run //:pipeline -- ARGS`, ARGS go to the launch script; launcher flags go
/// before a second `--`: `bazel run //:pipeline -- --jobs 8 --ca-cert ca.pem -- ARGS`
/// (relative paths are from where bazel was run). `bazel run //:pipeline -- --help` prints
/// this and pushes nothing.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, args_override_self = true)]
struct Args {
    /// The runfiles directory all paths of the config are relative to.
    #[arg(long, value_name = "DIR")]
    runfiles_dir: PathBuf,

    /// Launch config (a path, or one relative to --runfiles-dir).
    #[arg(long, value_name = "LAUNCH.json")]
    config: PathBuf,

    /// Do not push: take each image's digest from its layout (the images must already be in
    /// the registry for the pipeline to run remotely).
    #[arg(long)]
    no_push: bool,

    /// A Bazel workspace status file (`KEY VALUE` lines) for `{KEY}` in the config's tags
    /// (repeatable; launcher targets pass stable-status.txt and volatile-status.txt under
    /// --stamp).
    #[arg(long = "status-file", value_name = "FILE")]
    status_files: Vec<PathBuf>,

    #[command(flatten)]
    connection: ConnectionArgs,

    #[command(flatten)]
    transfer: TransferArgs,

    /// Arguments for the launch script.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LaunchConfig {
    launch_binary: String,
    images: Vec<ImageEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageEntry {
    key: String,
    layout: String,
    repository: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    insecure: bool,
    /// CA certificates (PEM) trusted for this image's registry, relative to the runfiles.
    #[serde(default)]
    ca_certs: Vec<String>,
}

fn main() -> ExitCode {
    sematic_cli::main_with_args(
        PROGRAM,
        argv::launcher_argv(std::env::args_os().collect()),
        run,
    )
}

fn run(mut args: Args) -> Result<()> {
    // Under `bazel run` the working directory is the runfiles tree; a path the user typed is
    // relative to where they typed it.
    if let Some(typed_in) = std::env::var_os("BUILD_WORKING_DIRECTORY") {
        for cert in &mut args.connection.ca_certs {
            if cert.is_relative() {
                *cert = Path::new(&typed_in).join(&*cert);
            }
        }
    }
    let runfiles = std::path::absolute(&args.runfiles_dir)
        .with_context(|| format!("resolving {}", args.runfiles_dir.display()))?;
    let config_path = if args.config.exists() {
        args.config.clone()
    } else {
        runfiles.join(&args.config)
    };
    let text = std::fs::read(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: LaunchConfig = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid launch config", config_path.display()))?;
    let specs = image_specs(&config, &runfiles, &Status::read(&args.status_files)?)?;
    // Everything that can be checked before a push is: nothing is pushed for a launch that
    // cannot happen.
    let binary = runfiles.join(&config.launch_binary);
    check_executable(&binary)?;
    let digests = specs
        .iter()
        .map(|spec| layout_digest(&spec.layout).with_context(|| format!("image {}", spec.label)))
        .collect::<Result<Vec<_>>>()?;

    let ca_certs: Vec<PathBuf> = config
        .images
        .iter()
        .flat_map(|entry| entry.ca_certs.iter().map(|cert| runfiles.join(cert)))
        .collect();
    let insecure: BTreeSet<String> = specs
        .iter()
        .zip(&config.images)
        .filter(|(_, entry)| entry.insecure)
        .map(|(spec, _)| spec.repository.registry.clone())
        .collect();
    let client = args.connection.client(PROGRAM, insecure, &ca_certs)?;
    let uris: Vec<(String, String)> = if args.no_push {
        presence::warn_unpushed(&client, &specs, &digests);
        specs
            .iter()
            .zip(digests)
            .map(|(spec, digest)| {
                let uri = spec.repository.with_digest(digest).to_string();
                (spec.label.clone(), uri)
            })
            .collect()
    } else {
        push_all(&args, &client, &specs, &digests)?
    };
    let uris = sorted_keys(uris);
    for (key, uri) in &uris {
        eprintln!("{PROGRAM}: {key} -> {uri}");
    }
    let mut command = Command::new(&binary);
    command.args(&args.args).env("RUNFILES_DIR", &runfiles);
    match image_env(&uris) {
        (Some(all), single) => {
            command.env(URIS_VAR, all);
            match single {
                Some(uri) => command.env(IMAGE_VAR, uri),
                None => command.env_remove(IMAGE_VAR),
            };
        }
        (None, _) => {
            command.env_remove(URIS_VAR).env_remove(IMAGE_VAR);
        }
    }
    let err = command.exec();
    Err(err).with_context(|| format!("executing {}", binary.display()))
}

/// Pushes every image, then prints a summary per key (each blob counted once, with the first
/// key that needed it) and a total; the URIs by key, or an error if any push failed.
fn push_all(
    args: &Args,
    client: &Client,
    specs: &[ImageSpec],
    digests: &[Digest],
) -> Result<Vec<(String, String)>> {
    let progress = args.transfer.progress(PROGRAM)?;
    let results = push_images(client, specs, args.transfer.jobs(), &progress);
    progress.finish();
    let mut uris = Vec::new();
    let mut total = Counts::default();
    let mut failed = false;
    for ((spec, expected), result) in specs.iter().zip(digests).zip(results) {
        let verified = result.and_then(|pushed| {
            if pushed.reference.digest.as_ref() != Some(expected) {
                bail!(
                    "the registry holds {} but the layout's manifest is {expected}",
                    pushed.reference
                );
            }
            Ok(pushed)
        });
        match verified {
            Ok(pushed) => {
                eprintln!(
                    "{PROGRAM}: summary: key={} {}",
                    spec.label,
                    pushed.summary()
                );
                total.add(&pushed.counts);
                uris.push((spec.label.clone(), pushed.reference.to_string()));
            }
            Err(err) => {
                sematic_cli::error(PROGRAM, &format!("image {}: {err:#}", spec.label));
                failed = true;
            }
        }
    }
    if failed {
        bail!("not launching: an image failed to push");
    }
    eprintln!(
        "{PROGRAM}: total: {} images={}",
        total.summary(),
        uris.len()
    );
    Ok(uris)
}

/// The launch script must be there to run: checked before anything is pushed.
fn check_executable(binary: &Path) -> Result<()> {
    let executable = std::fs::metadata(binary)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !executable {
        bail!(
            "the launch script {} is missing or not executable: build the launcher target again",
            binary.display()
        );
    }
    Ok(())
}

/// Validates the config's images and turns them into push specs (label = key), their tags
/// stamped from `status`.
fn image_specs(config: &LaunchConfig, runfiles: &Path, status: &Status) -> Result<Vec<ImageSpec>> {
    let mut keys = BTreeSet::new();
    config
        .images
        .iter()
        .map(|entry| {
            validate_key(&entry.key)?;
            if !keys.insert(entry.key.as_str()) {
                bail!("image key {:?} appears twice", entry.key);
            }
            let tags = status
                .tags(&entry.tags)
                .with_context(|| format!("image {}", entry.key))?;
            Ok(ImageSpec {
                label: entry.key.clone(),
                layout: runfiles.join(&entry.layout),
                repository: Reference::parse_repository(&entry.repository)
                    .with_context(|| format!("image {}", entry.key))?,
                tags,
            })
        })
        .collect()
}

/// Keys end up in `::KEY##URI` lists that Sematic splits on those separators.
fn validate_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key.contains("::")
        || key.contains("##")
        || key.chars().any(char::is_whitespace)
    {
        bail!(
            "invalid image key {key:?}: it must be non-empty, without whitespace, \"::\" or \"##\""
        );
    }
    Ok(())
}

/// `default` first, then the other keys in order.
fn sorted_keys(mut uris: Vec<(String, String)>) -> Vec<(String, String)> {
    uris.sort_by(|(a, _), (b, _)| (a != DEFAULT_KEY, a).cmp(&(b != DEFAULT_KEY, b)));
    uris
}

/// The values of SEMATIC_CONTAINER_IMAGE_URIS and SEMATIC_CONTAINER_IMAGE (`None`: unset).
/// The single-image variable is only set when `default` is the sole key, because Sematic
/// reads it in preference to the list and would lose every other key.
fn image_env(uris: &[(String, String)]) -> (Option<String>, Option<String>) {
    if uris.is_empty() {
        return (None, None);
    }
    let all: String = uris
        .iter()
        .map(|(key, uri)| format!("::{key}##{uri}"))
        .collect();
    let single = match uris {
        [(key, uri)] if key == DEFAULT_KEY => Some(uri.clone()),
        _ => None,
    };
    (Some(all), single)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, uri: &str) -> (String, String) {
        (key.to_owned(), uri.to_owned())
    }

    #[test]
    fn env_contract_for_default_only_multi_key_and_none() {
        let only = vec![pair("default", "r/a@sha256:1")];
        assert_eq!(
            image_env(&only),
            (
                Some("::default##r/a@sha256:1".into()),
                Some("r/a@sha256:1".into())
            )
        );
        let many = sorted_keys(vec![
            pair("cuda", "r/c@sha256:2"),
            pair("default", "r/a@sha256:1"),
            pair("arm", "r/b@sha256:3"),
        ]);
        assert_eq!(
            image_env(&many),
            (
                Some("::default##r/a@sha256:1::arm##r/b@sha256:3::cuda##r/c@sha256:2".into()),
                None
            )
        );
        let no_default = vec![pair("cuda", "r/c@sha256:2")];
        assert_eq!(
            image_env(&no_default),
            (Some("::cuda##r/c@sha256:2".into()), None)
        );
        assert_eq!(image_env(&[]), (None, None));
    }

    #[test]
    fn keys_with_separators_are_rejected() {
        for bad in ["", "a::b", "a##b", "a b"] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        validate_key("cuda_12").unwrap();
        validate_key("a:b#c").unwrap();
    }

    #[test]
    fn config_parsing_validates_entries() {
        let config: LaunchConfig = serde_json::from_str(
            r#"{"launch_binary": "_main/x", "images": [
                {"key": "default", "layout": "_main/l", "repository": "127.0.0.1:5000/a/b", "tags": ["t"]},
                {"key": "default", "layout": "_main/m", "repository": "127.0.0.1:5000/a/c"}]}"#,
        )
        .unwrap();
        let err = image_specs(&config, Path::new("/r"), &Status::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
        assert!(serde_json::from_str::<LaunchConfig>(
            r#"{"launch_binary": "x", "images": [], "extra": 1}"#
        )
        .is_err());
    }
}
