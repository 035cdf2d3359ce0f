//! The flags of the tools that talk to registries (`sematic-push`, `sematic-pull`,
//! `sematic-launch`), and the client and progress reporter they describe.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use sematic_registry::credentials::CredentialStore;
use sematic_registry::progress::{Mode, Progress};
use sematic_registry::transport::{RetryPolicy, TransferLimits};
use sematic_registry::Client;

/// The environment variable naming a Bazel credential helper when --credential-helper does not.
const CREDENTIAL_HELPER_VAR: &str = "SEMATIC_CREDENTIAL_HELPER";

/// Flags for reaching registries.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Also trust the CA certificates in this PEM file (repeatable). Added to the built-in
    /// web roots and the system bundle ($SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt).
    /// A relative path is from where `bazel run` was started (else the current directory).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,

    /// A credential helper speaking Bazel's protocol (`HELPER get`, {"uri": "https://REGISTRY"}
    /// on stdin, {"headers": {"Authorization": [...]}} on stdout), asked before the docker and
    /// podman credential files. Default: $SEMATIC_CREDENTIAL_HELPER. A name without `/` is
    /// looked up on PATH; a relative path is from where `bazel run` was started (else the
    /// current directory), as are relative $REGISTRY_AUTH_FILE and $DOCKER_CONFIG.
    #[arg(long, value_name = "HELPER")]
    pub credential_helper: Option<PathBuf>,

    /// Seconds to wait for a connection, an answer, or any read or write to make progress,
    /// before the request is retried.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// A transfer averaging fewer bytes per second than this over --min-rate-window is
    /// abandoned (and retried). Each request's deadline is --timeout plus the window plus its
    /// size at this rate (a 10 GB layer at the default 10000: eleven days).
    #[arg(long, value_name = "BYTES", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_rate: u64,

    /// Seconds over which --min-rate is averaged.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub min_rate_window: u64,

    /// Attempts per registry request (the first included) before giving up; failed requests
    /// are retried with exponential backoff when the failure may be transient.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,
}

impl ConnectionArgs {
    /// A client configured from these flags and the environment's credential files, also
    /// trusting `ca_certs` (absolute paths), which skips TLS verification and allows plain
    /// HTTP for the `insecure` registries only (and warns once for each).
    pub fn client(
        &self,
        program: &str,
        insecure: impl IntoIterator<Item = String>,
        ca_certs: &[PathBuf],
    ) -> Result<Client> {
        let typed_in = typed_in()?;
        let typed = self.ca_certs.iter().map(|cert| typed_in.join(cert));
        let mut builder = Client::builder(&format!(
            "rules_sematic-{program}/{}",
            env!("CARGO_PKG_VERSION")
        ))
        .ca_certs(typed.chain(ca_certs.iter().cloned()))
        .limits(TransferLimits {
            timeout: Duration::from_secs(self.timeout),
            min_rate: self.min_rate,
            window: Duration::from_secs(self.min_rate_window),
        })
        .retry(RetryPolicy::default().with_attempts(self.attempts));
        let helper = self.credential_helper.clone().or_else(|| {
            std::env::var_os(CREDENTIAL_HELPER_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let mut credentials = CredentialStore::from_env().relative_to(&typed_in);
        if let Some(helper) = helper {
            // A bare name is a program on PATH, as for a shell.
            let helper = if helper.components().count() > 1 {
                typed_in.join(helper)
            } else {
                helper
            };
            credentials = credentials.with_bazel_helper(helper);
        }
        builder = builder.credentials(credentials);
        for registry in insecure {
            builder = builder.insecure_registry(&registry);
            eprintln!(
                "{program}: warning: --insecure: TLS certificates of {registry} are not verified and plain HTTP is allowed, for that host and port only (not its token server or where it redirects to)"
            );
        }
        Ok(builder.build()?)
    }
}

/// The directory relative paths the user typed are relative to: where `bazel run` was started
/// ($BUILD_WORKING_DIRECTORY: Bazel runs the program in its runfiles), else the current one.
pub fn typed_in() -> Result<PathBuf> {
    match std::env::var_os("BUILD_WORKING_DIRECTORY").filter(|dir| !dir.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => std::env::current_dir().context("finding the current directory"),
    }
}

/// Flags for how a push moves blobs.
#[derive(clap::Args, Debug, Clone)]
pub struct TransferArgs {
    /// Blobs transferred in parallel, over all images of the run.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,

    /// How transfers are shown on stderr.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ProgressChoice::Auto)]
    progress: ProgressChoice,
}

/// The values of `--progress`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressChoice {
    /// live lines when stderr is a terminal, else one line per blob
    Auto,
    /// one line per finished blob
    Plain,
    /// only the summaries
    Quiet,
}

impl TransferArgs {
    pub fn jobs(&self) -> usize {
        usize::from(self.jobs)
    }

    /// The progress reporter the `--progress` mode asks for.
    pub fn progress(&self, program: &str) -> Result<Progress> {
        let mode = match self.progress {
            ProgressChoice::Auto if std::io::stderr().is_terminal() => Mode::Live,
            ProgressChoice::Auto | ProgressChoice::Plain => Mode::Plain,
            ProgressChoice::Quiet => Mode::Quiet,
        };
        Ok(Progress::new(program, mode))
    }
}
