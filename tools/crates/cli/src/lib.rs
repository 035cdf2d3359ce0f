//! The front end every rules_sematic binary shares, so that the libraries stay free of
//! command-line concerns: parse the flags, run, and report a failure as one line on stderr,
//! `PROGRAM: error: MESSAGE`, exit status 2 for a usage error (as clap) and 1 for a failed
//! run. A Bazel action's failure is then a single readable line in the build log.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use sematic_oci_core::one_line::one_line;

#[cfg(feature = "registry")]
pub mod registry;
pub mod stamp;

/// Exit status of a command line that cannot be run as given.
const USAGE_ERROR: u8 = 2;

/// Parses `C` from the process arguments and runs `run`; `--help` and `--version` print as
/// usual.
pub fn main<C: Parser>(program: &str, run: impl FnOnce(C) -> anyhow::Result<()>) -> ExitCode {
    main_with_args(program, std::env::args_os(), run)
}

/// [`main`] for an argument list the binary rewrote first (argv\[0\] included).
pub fn main_with_args<C: Parser>(
    program: &str,
    argv: impl IntoIterator<Item = OsString>,
    run: impl FnOnce(C) -> anyhow::Result<()>,
) -> ExitCode {
    let args = match C::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            eprintln!(
                "{program}: error: {} (see --help)",
                usage_problem(&err.to_string())
            );
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error(program, &format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Prints `PROGRAM: error: MESSAGE`, for a failure reported before the final one.
pub fn error(program: &str, message: &str) {
    eprintln!("{program}: error: {}", terminal_safe(message));
}

/// The longest error line printed, in characters: longer ones keep their start and end.
const MAX_LINE: usize = 2000;

/// `text` fit for the one error line: see [`one_line`].
pub fn terminal_safe(text: &str) -> String {
    one_line(text, MAX_LINE)
}

/// The paragraph of a clap error saying what is wrong, on one line, without clap's own
/// `error: ` prefix, usage block and tips.
fn usage_problem(text: &str) -> String {
    let problem: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty() && !line.starts_with("Usage:"))
        .collect();
    problem.join(" ").trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_are_joined_on_one_line() {
        let err = Err::<(), _>(anyhow::anyhow!("no such file\nsecond line"))
            .context("reading in/x")
            .unwrap_err();
        assert_eq!(
            terminal_safe(&format!("{err:#}")),
            "reading in/x: no such file second line"
        );
    }

    #[test]
    fn usage_errors_keep_only_the_problem() {
        #[derive(Parser, Debug)]
        #[command(name = "tool")]
        struct Args {
            #[arg(long)]
            layout: String,
            #[arg(long)]
            repository: String,
        }
        let err = Args::try_parse_from(["tool"]).unwrap_err();
        assert_eq!(
            usage_problem(&err.to_string()),
            "the following required arguments were not provided: --layout <LAYOUT> --repository <REPOSITORY>"
        );
        let err = Args::try_parse_from(["tool", "--bogus"]).unwrap_err();
        assert_eq!(
            usage_problem(&err.to_string()),
            "unexpected argument '--bogus' found"
        );
    }
}
