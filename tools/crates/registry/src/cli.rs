//! What the `sematic-push`, `sematic-pull` and `sematic-launch` command lines share: the
//! connection flags, one-line errors, and building a [`Client`] from the flags.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::error::ErrorKind;

use crate::progress::{Mode, Progress};
use crate::transport::Client;

/// Flags for reaching registries.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectionArgs {
    /// Also trust the CA certificates in this PEM file (repeatable). Added to the built-in
    /// web roots and the system bundle ($SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,

    /// Seconds to wait for a connection, or for any read or write to make progress, before
    /// the request is retried.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

impl ConnectionArgs {
    /// A client configured from these flags and the environment's credential files, which
    /// skips TLS verification and allows plain HTTP for the `insecure` registries only (and
    /// warns once for each).
    pub fn client(&self, program: &str, insecure: &[String]) -> Result<Client> {
        let mut builder = Client::builder(&format!(
            "rules_sematic-{program}/{}",
            env!("CARGO_PKG_VERSION")
        ))
        .ca_certs(self.ca_certs.iter().cloned())
        .timeout(Duration::from_secs(self.timeout));
        for registry in insecure {
            builder = builder.insecure_registry(registry);
            warn_insecure(program, registry);
        }
        Ok(builder.build()?)
    }
}

/// Flags for how a push moves blobs.
#[derive(clap::Args, Debug, Clone)]
pub struct TransferArgs {
    /// Blobs transferred in parallel, over all images of the run.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,

    /// auto: live progress when stderr is a terminal, else one line per blob; plain: one
    /// line per blob; quiet: only the summaries.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = ["auto", "plain", "quiet"])]
    progress: String,
}

impl TransferArgs {
    pub fn jobs(&self) -> usize {
        usize::from(self.jobs)
    }

    /// The progress reporter the `--progress` mode asks for.
    pub fn progress(&self, program: &str) -> Result<Progress> {
        Ok(Progress::new(program, Mode::parse(&self.progress)?))
    }
}

/// Parses the command line; usage errors become one `PROGRAM: error: …` line (exit 2),
/// `--help` and `--version` print as usual.
pub fn parse<T: clap::Parser>(program: &str) -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            err.exit()
        }
        Err(err) => {
            // clap spreads one error over several lines (the missing arguments, a usage
            // block, a hint); keep the message part, on one line.
            let text = err.to_string();
            let message = text.split("Usage:").next().unwrap_or(&text);
            let first = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .collect::<Vec<_>>()
                .join(" ");
            let first = first.trim_start_matches("error: ");
            eprintln!("{program}: error: {first} (see --help)");
            std::process::exit(2);
        }
    }
}

/// Prints an error chain as one line, `PROGRAM: error: outer: inner: …`.
pub fn report(program: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let text = format!("{err:#}").replace('\n', " ");
            eprintln!("{program}: error: {text}");
            ExitCode::FAILURE
        }
    }
}

/// The one warning `--insecure` prints.
pub fn warn_insecure(program: &str, registry: &str) {
    eprintln!(
        "{program}: warning: --insecure: TLS certificates of {registry} are not verified and plain HTTP is allowed"
    );
}
