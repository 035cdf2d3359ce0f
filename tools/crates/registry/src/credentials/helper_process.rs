//! Running a credential helper (docker's `docker-credential-*`, Bazel's protocol): a request
//! on stdin, the output read back, and one deadline for the whole exchange, from the start
//! until the helper has exited and its output is closed. The helper runs in its own process
//! group, which is killed at the deadline: a helper waiting for a keychain prompt nobody sees,
//! or one that exits leaving a background process holding its output, cannot hang a build.
//! Each output stream is read up to [`OUTPUT_LIMIT`]; a helper printing more is stopped.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The most a helper may print on stdout or stderr (an answer is a few hundred bytes).
pub(crate) const OUTPUT_LIMIT: usize = 1 << 20;

/// What a helper printed, and how it ended.
pub(crate) struct HelperOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program args…` with `input` on stdin; fails unless it has exited and closed its
/// output within `timeout`. `name` says which helper in messages (never its output: it may
/// hold a secret).
pub(crate) fn run_helper(
    program: &Path,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
    name: &str,
) -> Result<HelperOutput> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|err| {
            Error::Local(format!(
                "running credential helper {name}: {err} (is it on PATH?)"
            ))
        })?;
    let (sender, outputs) = mpsc::channel();
    read_on_thread(child.stdout.take(), 0, sender.clone());
    read_on_thread(child.stderr.take(), 1, sender);
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        // On a thread: a helper that never reads its input must not block us past the deadline.
        // A helper that exits without reading it is not an error of ours.
        thread::spawn(move || stdin.write_all(&input));
    }
    let mut read: [Option<Vec<u8>>; 2] = [None, None];
    let mut status = None;
    loop {
        if status.is_none() {
            status = child.try_wait().map_err(|err| {
                stop(&mut child);
                Error::Local(format!("waiting for credential helper {name}: {err}"))
            })?;
        }
        if let (Some(status), [Some(_), Some(_)]) = (status, &read) {
            let [stdout, stderr] = read.map(Option::unwrap_or_default);
            return Ok(HelperOutput {
                status,
                stdout,
                stderr,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            stop(&mut child);
            let seconds = timeout.as_secs();
            return Err(Error::Local(match status {
                None => format!(
                    "credential helper {name} did not answer within {seconds} s (--timeout); it was stopped"
                ),
                Some(_) => format!(
                    "credential helper {name} exited, but a process it started kept its output open for {seconds} s (--timeout); its process group was stopped"
                ),
            }));
        }
        match outputs.recv_timeout(left.min(Duration::from_millis(10))) {
            Ok((stream, bytes)) if bytes.len() > OUTPUT_LIMIT => {
                stop(&mut child);
                return Err(Error::Local(format!(
                    "credential helper {name} printed more than {} MiB on {}; it was stopped",
                    OUTPUT_LIMIT >> 20,
                    ["stdout", "stderr"][stream]
                )));
            }
            Ok((stream, bytes)) => read[stream] = Some(bytes),
            Err(_) => {}
        }
    }
}

/// Reads `pipe` to its end (or just past [`OUTPUT_LIMIT`]) on a thread and sends what it read
/// as output number `stream`. Never joined: a pipe held open by a process that left the group
/// must not hold us.
fn read_on_thread(
    pipe: Option<impl Read + Send + 'static>,
    stream: usize,
    sender: mpsc::Sender<(usize, Vec<u8>)>,
) {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            // A read error ends the output like its end does; what was read is kept.
            let _ = pipe.take(OUTPUT_LIMIT as u64 + 1).read_to_end(&mut bytes);
        }
        // The receiver is gone once the helper was stopped; nothing is waiting for this.
        let _ = sender.send((stream, bytes));
    });
}

/// Kills the helper's process group (the helper and whatever it started that did not leave
/// the group), and reaps the helper.
fn stop(child: &mut Child) {
    if let Ok(group) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the helper leads
        // (process_group(0) made its pid the group id); it touches no memory of ours.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    // Best effort: the error that matters is the one the caller reports.
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str, timeout: Duration) -> Result<HelperOutput> {
        run_helper(Path::new("sh"), &["-c", script], b"in", timeout, "h")
    }

    #[test]
    fn output_and_status_come_back() {
        let out = run("cat; echo err >&2; exit 3", Duration::from_secs(10)).unwrap();
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

    #[test]
    fn a_process_left_holding_the_output_is_stopped_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!(
            "sleep 30 & echo $! > {}; echo '{{}}'; exit 0",
            pid_file.display()
        );
        let started = Instant::now();
        let err = run(&script, Duration::from_millis(500)).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            err.to_string()
                .ends_with("exited, but a process it started kept its output open for 0 s (--timeout); its process group was stopped"),
            "{err}"
        );
        let pid = std::fs::read_to_string(pid_file).unwrap();
        let running = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .is_ok_and(|stat| !stat.contains(") Z "))
        };
        // SIGKILL is delivered asynchronously.
        let until = Instant::now() + Duration::from_secs(2);
        while running() && Instant::now() < until {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(), "the leftover process {} still runs", pid.trim());
    }

    #[test]
    fn an_endless_helper_is_stopped_past_the_output_limit() {
        let started = Instant::now();
        let err = run("yes", Duration::from_secs(30)).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            "credential helper h printed more than 1 MiB on stdout; it was stopped"
        );
    }
}
