//! `sematic-launch`: push a pipeline's images in parallel, then exec its launch script with
//! the pushed image URIs in Sematic's environment variables. The flags are here; the steps
//! are the library's.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use sematic_cli::registry::{ConnectionArgs, TransferArgs};
use sematic_cli::stamp::Status;
use sematic_launch::launch::Launch;
use sematic_launch::{argv, presence, push, PROGRAM};

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
/// (relative paths are from where bazel was run). A launcher flag among ARGS without a second
/// `--` still goes to the launch script, with a note on stderr. `bazel run //:pipeline --
/// --help` prints this and pushes nothing.
///
/// When there are images, the Sematic server the launch script will submit to is asked
/// first whether it answers (GET <address>/api/v1/meta/versions, within 10 s), its address
/// found as Sematic's client finds it: $SEMATIC_SERVER_ADDRESS, $SEMATIC_API_ADDRESS,
/// SEMATIC_API_ADDRESS in Sematic's settings file ($SEMATIC_CONFIG_DIR or ~/.sematic,
/// settings.yaml), else http://127.0.0.1:5001. Nothing is pushed for a launch no server takes.
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

    /// Do not ask the Sematic server whether it answers before pushing (for a launch script
    /// that submits nothing, or a server this machine cannot reach).
    #[arg(long)]
    no_server_check: bool,

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

fn main() -> ExitCode {
    let given: Vec<OsString> = std::env::args_os().collect();
    let command = <Args as clap::CommandFactory>::command();
    let known: Vec<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .collect();
    if let Some(note) = argv::misplaced_flag_note(&given, &known) {
        eprintln!("{PROGRAM}: note: {note}");
    }
    sematic_cli::main_with_args(PROGRAM, argv::launcher_argv(given), run)
}

fn run(args: Args) -> Result<()> {
    let status = Status::read(&args.status_files)?;
    let launch = Launch::prepare(
        &args.runfiles_dir,
        &args.config,
        &status,
        !args.no_server_check,
    )?;
    let (ca_certs, insecure) = launch.tls_settings();
    let client = args.connection.client(PROGRAM, insecure, &ca_certs)?;
    let uris = if args.no_push {
        presence::warn_unpushed(&client, &launch.specs, &launch.digests);
        launch.layout_uris()
    } else {
        let progress = args.transfer.progress(PROGRAM)?;
        let jobs = args.transfer.jobs();
        push::push_all(&client, &launch.specs, &launch.digests, jobs, &progress)?
    };
    Err(launch.exec(uris, &args.args).into())
}
