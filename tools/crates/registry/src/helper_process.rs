//! Running a credential helper (docker's `docker-credential-*`, Bazel's protocol): a request
//! on stdin, the whole output read back, and a deadline after which the helper is killed, so a
//! helper waiting for a keychain prompt nobody sees cannot hang a build.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What a helper printed, and how it ended.
pub(crate) struct HelperOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program args…` with `input` on stdin; fails if it has not exited within `timeout`.
/// `name` says which helper in messages (never its output: it may hold a secret).
pub(crate) fn run_helper(
    program: &Path,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
    name: &str,
) -> Result<HelperOutput> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running credential helper {name} (is it on PATH?)"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is not an error of ours.
        let _ = stdin.write_all(input);
    }
    let status = wait_until(&mut child, Instant::now() + timeout)
        .with_context(|| format!("waiting for credential helper {name}"))?;
    let Some(status) = status else {
        // Best effort: the error that matters is the timeout.
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "credential helper {name} did not answer within {} s (--timeout); it was stopped",
            timeout.as_secs()
        );
    };
    Ok(HelperOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Reads a pipe to its end on a thread, so a chatty helper never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_come_back() {
        let out = run_helper(
            Path::new("sh"),
            &["-c", "cat; echo err >&2; exit 3"],
            b"in",
            Duration::from_secs(10),
            "sh",
        )
        .unwrap();
        assert_eq!(
            (out.status.code(), out.stdout, out.stderr),
            (Some(3), b"in".to_vec(), b"err\n".to_vec())
        );
    }

    #[test]
    fn a_hanging_helper_is_stopped_at_the_deadline() {
        let started = Instant::now();
        let err = run_helper(
            Path::new("sleep"),
            &["30"],
            b"",
            Duration::from_millis(200),
            "docker-credential-slow",
        )
        .err()
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            "credential helper docker-credential-slow did not answer within 0 s (--timeout); it was stopped"
        );
    }
}
