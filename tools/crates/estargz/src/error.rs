//! The one error type of the crate: every variant names the offending input and the fix.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the layer tar failed: {0}")]
    Read(#[source] io::Error),
    #[error("writing the eStargz blob failed: {0}")]
    Write(#[source] io::Error),
    #[error("the layer tar ends inside the entry at byte {offset}: pass a complete tar stream")]
    Truncated { offset: u64 },
    #[error("the layer tar has no valid header at byte {offset} (bad checksum): pass an uncompressed tar stream")]
    NotTar { offset: u64 },
    #[error("the layer tar's header at byte {offset} is malformed ({reason}): rebuild the tar")]
    BadHeader { offset: u64, reason: String },
    #[error("tar entry {name:?} has type {typeflag:?}, which eStargz cannot hold: use regular files, directories, links, devices or fifos")]
    Unsupported { name: String, typeflag: char },
    #[error("tar entry {name:?} uses a name eStargz reserves for itself: rename or drop it")]
    Reserved { name: String },
    #[error(
        "prioritized file {path:?} is not in the layer: prioritize only paths the layer holds"
    )]
    PrioritizedMissing { path: String },
    #[error("chunk size 0 is invalid: use a positive chunk size (the default is 4 MiB)")]
    ZeroChunkSize,
}

pub type Result<T> = std::result::Result<T, Error>;
