//! The shared `main` of the rules_sematic binaries: parse the command line, run, and report
//! any failure as one line, `TOOL: error: cause: cause: …`, so a Bazel action's failure is a
//! single readable line in the build log.

use std::process::ExitCode;

use clap::Parser;

/// Exit status of a command line clap rejects, as clap itself uses.
const USAGE_ERROR: u8 = 2;

/// Parses `C` from the process arguments and runs `run`; `--help` and `--version` print as
/// usual.
pub fn main<C: Parser>(tool: &str, run: impl FnOnce(C) -> anyhow::Result<()>) -> ExitCode {
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            // clap's message is a paragraph saying what is wrong (sometimes over several
            // lines), then usage and tips; keep the paragraph, on one line.
            let text = err.to_string();
            let problem: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            eprintln!("{tool}: {}", problem.join(" "));
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{tool}: error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined with ": " on a single line.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace(['\n', '\r'], " ")
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
        assert_eq!(one_line(&err), "reading in/x: no such file second line");
    }
}
