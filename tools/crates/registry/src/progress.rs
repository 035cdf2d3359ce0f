//! Progress on stderr: live per-blob lines redrawn in place on a terminal, one line per
//! event otherwise, or nothing but the final summary.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sematic_oci_core::one_line::one_line;

use crate::sync::lock;

/// The longest event line, in characters (a registry's refusal may be quoted in one).
const LINE_CHARS: usize = 2000;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Live lines redrawn in place (stderr is a terminal).
    Live,
    /// One line per finished blob.
    Plain,
    Quiet,
}

/// Shared by all transfers of a run.
pub struct Progress {
    prefix: String,
    mode: Mode,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    painter: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    active: Vec<Arc<TransferState>>,
    /// Blobs expected in all, and finished ones by outcome (`existed`, `mounted`, …).
    total: u64,
    finished: BTreeMap<&'static str, u64>,
    /// Lines of the live area currently on screen.
    drawn: usize,
}

struct TransferState {
    label: String,
    total: u64,
    done: AtomicU64,
    started: Mutex<Instant>,
}

/// One blob being moved; dropping it removes its live line.
pub struct Transfer {
    state: Option<Arc<TransferState>>,
    progress: Option<Arc<Mutex<State>>>,
}

impl Progress {
    /// `prefix` starts every line (`sematic-push`).
    pub fn new(prefix: &str, mode: Mode) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let painter = (mode == Mode::Live).then(|| {
            let (state, stop, prefix) = (state.clone(), stop.clone(), prefix.to_owned());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    paint(&prefix, &mut lock(&state));
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
        });
        Progress {
            prefix: prefix.to_owned(),
            mode,
            state,
            stop,
            painter: Mutex::new(painter),
        }
    }

    /// Starts tracking a transfer of `total` bytes (live mode only).
    pub fn transfer(&self, label: String, total: u64) -> Transfer {
        if self.mode != Mode::Live {
            return Transfer {
                state: None,
                progress: None,
            };
        }
        let state = Arc::new(TransferState {
            label,
            total,
            done: AtomicU64::new(0),
            started: Mutex::new(Instant::now()),
        });
        lock(&self.state).active.push(state.clone());
        Transfer {
            state: Some(state),
            progress: Some(self.state.clone()),
        }
    }

    /// Announces `count` more blobs to handle (for the live header).
    pub fn expect_blobs(&self, count: u64) {
        lock(&self.state).total += count;
    }

    /// Reports a blob handled with `outcome` (`existed`, `mounted`, `uploaded`, `streamed`):
    /// a line in plain mode, a count in the live header.
    pub fn blob_done(&self, outcome: &'static str, text: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{}: {}", self.prefix, one_line(text, LINE_CHARS)),
            Mode::Live => *lock(&self.state).finished.entry(outcome).or_default() += 1,
        }
    }

    /// Reports a step worth a line of its own (a manifest or tag pushed): in plain mode, or
    /// above the live area.
    pub fn event(&self, text: &str) {
        let text = one_line(text, LINE_CHARS);
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{}: {text}", self.prefix),
            Mode::Live => {
                let mut state = lock(&self.state);
                clear(&mut state);
                eprintln!("{}: {text}", self.prefix);
            }
        }
    }

    /// Stops redrawing and clears the live area, so the next lines (errors, the summary)
    /// print cleanly.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(painter) = lock(&self.painter).take() {
            // The painter only sleeps and draws; it cannot fail, and if it did the screen is
            // all that is lost.
            let _ = painter.join();
        }
        clear(&mut lock(&self.state));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Transfer {
    /// The transfer restarts with `offset` bytes done (a retried or resumed upload).
    pub fn restart_at(&self, offset: u64) {
        if let Some(state) = &self.state {
            state.done.store(offset, Ordering::Relaxed);
            *lock(&state.started) = Instant::now();
        }
    }

    /// Wraps a source so that every byte read counts as transferred.
    pub fn reader<R: Read>(&self, inner: R) -> Counted<R> {
        Counted {
            inner,
            state: self.state.clone(),
        }
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if let (Some(state), Some(progress)) = (&self.state, &self.progress) {
            lock(progress).active.retain(|s| !Arc::ptr_eq(s, state));
        }
    }
}

/// A reader that reports the bytes it passes on.
pub struct Counted<R> {
    inner: R,
    state: Option<Arc<TransferState>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Some(state) = &self.state {
            state.done.fetch_add(read as u64, Ordering::Relaxed);
        }
        Ok(read)
    }
}

fn clear(state: &mut State) {
    if state.drawn > 0 {
        let mut err = std::io::stderr().lock();
        // Up to the first live line, then clear to the end of the screen.
        let _ = write!(err, "\x1b[{}A\r\x1b[J", state.drawn);
        let _ = err.flush();
        state.drawn = 0;
    }
}

fn paint(prefix: &str, state: &mut State) {
    clear(state);
    if state.total == 0 {
        return;
    }
    let done: u64 = state.finished.values().sum();
    let counts: Vec<String> = state
        .finished
        .iter()
        .map(|(outcome, count)| format!("{count} {outcome}"))
        .collect();
    let mut lines = vec![format!(
        "{prefix}: {done}/{} blobs ({}), {} in flight",
        state.total,
        if counts.is_empty() {
            "none done yet".to_owned()
        } else {
            counts.join(", ")
        },
        state.active.len()
    )];
    for transfer in &state.active {
        let done = transfer.done.load(Ordering::Relaxed);
        let elapsed = lock(&transfer.started).elapsed().as_secs_f64().max(0.001);
        lines.push(format!(
            "  {}  {} / {}  {}/s",
            transfer.label,
            human(done),
            human(transfer.total),
            human((done as f64 / elapsed) as u64)
        ));
    }
    let mut err = std::io::stderr().lock();
    for line in &lines {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.flush();
    state.drawn = lines.len();
}

/// `1.5 MiB`-style sizes.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn counted_reader_reports_bytes_in_live_mode_only() {
        let progress = Progress::new("t", Mode::Quiet);
        let transfer = progress.transfer("x".into(), 3);
        let mut out = Vec::new();
        transfer.reader(&b"abc"[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(transfer.state.is_none());
    }
}
