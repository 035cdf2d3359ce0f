//! Running the runtimes' own command-line clients: found on PATH, their failures reported as
//! one line naming the command and what it said.

use std::env;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};

use crate::error::{Error, Result};

const PIPE_BUFFER: usize = 1 << 20;

/// The executable `name` on PATH, if any.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}

/// `program args…` as written in messages.
fn shown(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// The last non-empty line a failed command printed: clients put the reason there.
fn last_line(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(stdout)
    } else {
        text
    };
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_owned()
}

fn failed(
    command: &Command,
    status: std::process::ExitStatus,
    stderr: &[u8],
    stdout: &[u8],
) -> Error {
    Error::Command(format!(
        "`{}` failed ({status}): {}",
        shown(command),
        last_line(stderr, stdout)
    ))
}

/// Runs `command` to completion; its stdout, or an error with the last line it printed.
pub fn output(command: &mut Command) -> Result<String> {
    let result = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| Error::Command(format!("cannot run `{}`: {err}", shown(command))))?;
    if !result.status.success() {
        return Err(failed(
            command,
            result.status,
            &result.stderr,
            &result.stdout,
        ));
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

/// Runs `command` with `feed` writing its stdin. If `feed` fails the command is killed
/// before its input ends, so it never sees a complete stream (the runtimes import nothing
/// from a truncated one); if the command fails, its own message wins over the broken pipe
/// `feed` then sees.
pub fn feed<T>(command: &mut Command, feed: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<T> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| Error::Command(format!("cannot run `{}`: {err}", shown(command))))?;
    let stdin = Pipe {
        inner: child.stdin.take().expect("stdin is piped"),
        broken: false,
    };
    let mut writer = BufWriter::with_capacity(PIPE_BUFFER, stdin);
    let fed = feed(&mut writer).and_then(|value| {
        writer.flush()?;
        Ok(value)
    });
    let pipe_broke = writer.get_ref().broken;
    if fed.is_err() && !pipe_broke {
        // Killed while its stdin is still open: what it read so far is never committed.
        let _ = child.kill();
    }
    drop(writer);
    let result = child
        .wait_with_output()
        .map_err(|err| Error::Command(format!("waiting for `{}`: {err}", shown(command))))?;
    match fed {
        Err(err) if !pipe_broke => Err(err),
        _ if !result.status.success() => Err(failed(
            command,
            result.status,
            &result.stderr,
            &result.stdout,
        )),
        value => value,
    }
}

/// A child's stdin that remembers whether the child stopped reading it.
struct Pipe {
    inner: ChildStdin,
    broken: bool,
}

impl Write for Pipe {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes);
        self.broken |= written.is_err();
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.inner.flush();
        self.broken |= flushed.is_err();
        flushed
    }
}
