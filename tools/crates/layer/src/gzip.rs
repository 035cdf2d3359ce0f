//! Deterministic parallel gzip, in the manner of pigz.
//!
//! The uncompressed stream is cut into [`BLOCK_SIZE`] blocks. Each block is deflated on a worker
//! thread with the previous block's last [`DICTIONARY_SIZE`] bytes as preset dictionary, so
//! matches can still reach back across the cut, and ends with a sync flush (byte-aligned, not
//! final); the last block ends the deflate stream. The raw deflate pieces are concatenated into
//! one gzip member whose CRC is combined from the per-block CRCs.
//!
//! Every block's bytes depend only on its own data, its dictionary and the pinned parameters
//! below, never on which thread compressed it or when, so the output is identical for any
//! number of workers and on any machine.
//!
//! Pinned: zlib-rs (through flate2, pure Rust), deflate level [`LEVEL`], 32 KiB window, default
//! strategy, blocks of [`BLOCK_SIZE`]. zlib-rs picks SIMD routines at run time only for string
//! comparison and hash-table sliding, whose results do not depend on the routine; changing any
//! pinned value (or the zlib-rs version, should it change its match finder) changes layer
//! digests, which is why they are constants and not options.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Deflate level: zlib's default, the trade-off registries and `docker build` use.
pub const LEVEL: u32 = 6;
/// Uncompressed bytes per block. Small enough to keep every core busy on modest layers, large
/// enough that the per-block sync flush and dictionary reset cost well under 0.1 % in size.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Deflate's maximum back-reference distance: all of the history a block can use.
const DICTIONARY_SIZE: usize = 32 << 10;
/// log2 of the deflate window; 15 is the maximum and what gzip uses.
const WINDOW_BITS: u8 = 15;
/// gzip header: magic, deflate, no flags, mtime 0 (so the date of the build never shows),
/// no extra flags, and OS "unknown" (255) so the bytes do not depend on the building host.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// A `Write` that gzips everything written to it into `output`, using `workers` threads.
pub struct ParallelGzip<W: Write> {
    output: W,
    block: Vec<u8>,
    /// Tail of the last dispatched block: the next block's dictionary.
    history: Vec<u8>,
    /// Results of dispatched blocks, oldest first; written in this order.
    pending: VecDeque<Receiver<io::Result<Compressed>>>,
    /// Blocks allowed in flight before the writer waits for the oldest: bounds memory to a few
    /// blocks per worker however fast the input arrives.
    max_pending: usize,
    crc: Crc,
    pool: WorkerPool,
}

/// The compressing threads; dropping the pool (also on error paths) stops and joins them.
struct WorkerPool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    fn start(workers: usize) -> io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..workers)
            .map(|index| {
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("gzip-{index}"))
                    .spawn(move || work(&queue))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(WorkerPool {
            jobs: Some(jobs),
            workers,
        })
    }

    fn submit(&self, job: Job) -> io::Result<()> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| io::Error::other("gzip workers have stopped"))
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        // Closing the queue ends every worker's loop; a worker blocked on nothing else exits.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            // A worker that panicked has already failed its job's reply channel.
            let _ = worker.join();
        }
    }
}

struct Job {
    data: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
    reply: SyncSender<io::Result<Compressed>>,
}

struct Compressed {
    deflate: Vec<u8>,
    crc: Crc,
}

impl<W: Write> ParallelGzip<W> {
    /// Writes the gzip header to `output` and starts `workers` (at least one) threads.
    pub fn new(mut output: W, workers: usize) -> io::Result<Self> {
        output.write_all(&HEADER)?;
        let workers = workers.max(1);
        Ok(ParallelGzip {
            output,
            block: Vec::with_capacity(BLOCK_SIZE),
            history: Vec::new(),
            pending: VecDeque::new(),
            max_pending: 2 * workers + 1,
            crc: Crc::new(),
            pool: WorkerPool::start(workers)?,
        })
    }

    /// Compresses what is buffered, writes the trailer and returns the output writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the uncompressed length modulo 2^32, as RFC 1952 specifies.
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.output.write_all(&trailer)?;
        self.output.flush()?;
        Ok(self.output)
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_SIZE));
        // Only the last block can be shorter than the dictionary, and nothing follows it.
        let history = data[data.len().saturating_sub(DICTIONARY_SIZE)..].to_vec();
        let dictionary = std::mem::replace(&mut self.history, history);

        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            data,
            dictionary,
            last,
            reply,
        };
        self.pool.submit(job)?;
        self.pending.push_back(result);
        while self.pending.len() > self.max_pending {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(result) = self.pending.pop_front() else {
            return Ok(());
        };
        let compressed = result
            .recv()
            .map_err(|_| io::Error::other("a gzip worker stopped without an answer"))??;
        self.output.write_all(&compressed.deflate)?;
        self.crc.combine(&compressed.crc);
        Ok(())
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            let room = BLOCK_SIZE - self.block.len();
            let (now, rest) = buf.split_at(room.min(buf.len()));
            self.block.extend_from_slice(now);
            buf = rest;
            if self.block.len() == BLOCK_SIZE {
                self.dispatch(false)?;
            }
        }
        Ok(total)
    }

    /// Blocks are cut by size only, never by flushes, so flushing cannot change the output.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only while taking a job, not while compressing it.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = compress_block(&job.data, &job.dictionary, job.last);
        // The writer may have given up (an error elsewhere); nobody is left to tell.
        let _ = job.reply.send(result);
    }
}

fn compress_block(data: &[u8], dictionary: &[u8], last: bool) -> io::Result<Compressed> {
    // A new compressor for every block, never `reset()`: zlib-rs's reset keeps the old window
    // and hash chains, which can then change the matches found, so the bytes would depend on
    // which blocks a worker compressed before. A fresh state is fully zeroed; allocating it
    // costs microseconds against the milliseconds a block takes.
    let mut deflate = Compress::new_with_window_bits(Compression::new(LEVEL), false, WINDOW_BITS);
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Level 6 rarely expands data; the margin covers incompressible blocks' stored-block
    // overhead so one call usually suffices.
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    let mut consumed = 0;
    loop {
        let before = deflate.total_in();
        let status = deflate
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        consumed += usize::try_from(deflate.total_in() - before).map_err(io::Error::other)?;
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once input is used up and output space was left over.
            Status::Ok | Status::BufError => {
                !last && consumed == data.len() && out.len() < out.capacity()
            }
        };
        if done {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    let mut crc = Crc::new();
    crc.update(data);
    Ok(Compressed { deflate: out, crc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Compressible but not trivial: text-like runs mixed with pseudo-random bytes.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if (i / 4096) % 3 == 0 {
                    state as u8
                } else {
                    b"def layer(path): return path\n"[i % 29]
                }
            })
            .collect()
    }

    fn gzip(data: &[u8], workers: usize, write_size: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), workers).unwrap();
        for chunk in data.chunks(write_size.max(1)) {
            gz.write_all(chunk).unwrap();
        }
        gz.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        // GzDecoder stops after the first member: the whole input must be one member.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_at_block_boundaries() {
        for len in [
            0,
            1,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE + 77,
        ] {
            let data = sample(len);
            let compressed = gzip(&data, 2, 8192);
            assert_eq!(compressed[..10], HEADER, "len {len}");
            assert_eq!(gunzip(&compressed), data, "len {len}");
            let isize = u32::from_le_bytes(compressed[compressed.len() - 4..].try_into().unwrap());
            assert_eq!(isize as usize, len);
        }
    }

    #[test]
    fn bytes_do_not_depend_on_workers_or_write_sizes() {
        let data = sample(5 * BLOCK_SIZE + 12345);
        let reference = gzip(&data, 1, 1 << 16);
        for (workers, write_size) in [(2, 1), (3, 4096), (8, 3 * BLOCK_SIZE)] {
            assert!(
                gzip(&data, workers, write_size) == reference,
                "{workers} workers, writes of {write_size}"
            );
        }
        assert!(reference.len() < data.len() / 2, "{}", reference.len());
    }

    #[test]
    fn dictionaries_keep_the_ratio_of_a_single_stream() {
        // Repeated content just across a block boundary is only found through the dictionary.
        let unit = sample(20_000);
        let data: Vec<u8> = unit.iter().cycle().take(4 * BLOCK_SIZE).copied().collect();
        let ours = gzip(&data, 2, 1 << 16).len();
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(LEVEL));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap().len();
        assert!(
            ours < single + single / 20,
            "ours {ours}, single stream {single}"
        );
    }
}
