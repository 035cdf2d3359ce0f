//! One pass over the input tar that records where every entry's bytes are (its extension
//! headers, header, data) and the metadata its TOC entry needs. No file data is kept: the
//! writer seeks back to each entry, so a layer of any size costs memory per entry only.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Seek, SeekFrom};

use tar::{EntryType, Header};

use crate::error::{Error, Result};

pub const BLOCK: u64 = 512;
/// PAX and GNU long-name payloads are read into memory; real ones are a few hundred bytes.
const MAX_EXTENSION: u64 = 1 << 20;

/// The kind of a tar entry, as the TOC spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Reg,
    Hardlink,
    Symlink,
    Dir,
    Char,
    Block,
    Fifo,
}

impl Kind {
    pub fn toc_name(self) -> &'static str {
        match self {
            Kind::Reg => "reg",
            Kind::Hardlink => "hardlink",
            Kind::Symlink => "symlink",
            Kind::Dir => "dir",
            Kind::Char => "char",
            Kind::Block => "block",
            Kind::Fifo => "fifo",
        }
    }
}

/// One logical tar entry: its extension headers (PAX, GNU long names), header and data.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Byte offset of the entry's first header block (an extension header if it has one).
    pub start: u64,
    /// Byte offset of its data: everything from `start` up to here is header bytes.
    pub data: u64,
    /// Data length; the data is followed by zero padding up to the next block.
    pub size: u64,
    pub name: String,
    pub kind: Kind,
    pub link_name: String,
    pub mode: u64,
    pub uid: u64,
    pub gid: u64,
    pub user_name: String,
    pub group_name: String,
    /// Seconds since the epoch, rounded to the second as the TOC records it.
    pub mtime: i64,
    pub dev_major: u64,
    pub dev_minor: u64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

pub fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

/// Every entry of the tar read from `input` (positioned at its start), in order. The scan
/// stops at the end-of-archive block, or at the end of the input for tars without one.
pub fn scan<R: Read + Seek>(input: &mut R) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut offset = input.stream_position().map_err(Error::Read)?;
    let mut pending = Extensions::default();
    let mut start = offset;
    loop {
        let mut block = [0u8; BLOCK as usize];
        if !read_block(input, &mut block, offset)? {
            // Seeking past the end succeeds: the last entry's data may be cut short.
            let length = input.seek(SeekFrom::End(0)).map_err(Error::Read)?;
            return match entries.last() {
                Some(last) if offset > length => Err(Error::Truncated { offset: last.start }),
                _ => Ok(entries),
            };
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(entries);
        }
        check_sum(&block, offset)?;
        let header = Header::from_byte_slice(&block);
        let bad = |reason: String| Error::BadHeader { offset, reason };
        let size = header.entry_size().map_err(|e| bad(e.to_string()))?;
        let data = offset + BLOCK;
        let typeflag = header.as_bytes()[156];
        if pending.is_empty() {
            start = offset;
        }
        let advance = match typeflag {
            b'x' | b'L' | b'K' => {
                if size > MAX_EXTENSION {
                    return Err(bad(format!("{size}-byte extension header")));
                }
                let mut payload = vec![0u8; size as usize];
                input.read_exact(&mut payload).map_err(|e| eof(e, offset))?;
                match typeflag {
                    b'x' => pending.pax(&payload).map_err(bad)?,
                    b'L' => pending.long_name = Some(gnu_string(&payload)),
                    _ => pending.long_link = Some(gnu_string(&payload)),
                }
                size
            }
            _ => {
                let ext = std::mem::take(&mut pending);
                let name = ext
                    .long_name
                    .or(ext.path)
                    .unwrap_or_else(|| lossy(&header.path_bytes()));
                let kind = kind_of(header.entry_type()).ok_or_else(|| Error::Unsupported {
                    name: name.clone(),
                    typeflag: typeflag as char,
                })?;
                let size = ext.size.unwrap_or(size);
                let number = |v: std::io::Result<u64>| v.map_err(|e| bad(e.to_string()));
                let link = header.link_name_bytes().map(|b| lossy(&b));
                let entry = Entry {
                    start,
                    data,
                    size,
                    kind,
                    link_name: ext.link.or(ext.long_link).or(link).unwrap_or_default(),
                    mode: number(header.mode().map(u64::from))?,
                    uid: ext.uid.map_or_else(|| number(header.uid()), Ok)?,
                    gid: ext.gid.map_or_else(|| number(header.gid()), Ok)?,
                    user_name: ext.uname.unwrap_or_else(|| field(header.username_bytes())),
                    group_name: ext.gname.unwrap_or_else(|| field(header.groupname_bytes())),
                    mtime: ext
                        .mtime
                        .map_or_else(|| number(header.mtime()).map(|m| m as i64), Ok)?,
                    dev_major: device(header.device_major(), kind).map_err(bad)?,
                    dev_minor: device(header.device_minor(), kind).map_err(bad)?,
                    xattrs: ext.xattrs,
                    name,
                };
                entries.push(entry);
                size
            }
        };
        offset = data + padded(advance);
        input.seek(SeekFrom::Start(offset)).map_err(Error::Read)?;
    }
}

/// Reads one block; false at a clean end of input, an error inside a block.
fn read_block<R: Read>(input: &mut R, block: &mut [u8], offset: u64) -> Result<bool> {
    let mut filled = 0;
    while filled < block.len() {
        match input.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(Error::Truncated { offset }),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Read(e)),
        }
    }
    Ok(true)
}

fn eof(error: std::io::Error, offset: u64) -> Error {
    if error.kind() == ErrorKind::UnexpectedEof {
        Error::Truncated { offset }
    } else {
        Error::Read(error)
    }
}

/// The header checksum: the unsigned byte sum with the checksum field read as spaces.
fn check_sum(block: &[u8; BLOCK as usize], offset: u64) -> Result<()> {
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    match Header::from_byte_slice(block).cksum() {
        Ok(recorded) if u64::from(recorded) == sum => Ok(()),
        _ => Err(Error::NotTar { offset }),
    }
}

fn kind_of(entry_type: EntryType) -> Option<Kind> {
    Some(match entry_type {
        EntryType::Regular => Kind::Reg,
        EntryType::Link => Kind::Hardlink,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Directory => Kind::Dir,
        EntryType::Char => Kind::Char,
        EntryType::Block => Kind::Block,
        EntryType::Fifo => Kind::Fifo,
        _ => return None,
    })
}

fn device(value: std::io::Result<Option<u32>>, kind: Kind) -> std::result::Result<u64, String> {
    if !matches!(kind, Kind::Char | Kind::Block) {
        return Ok(0);
    }
    value
        .map(|v| u64::from(v.unwrap_or(0)))
        .map_err(|e| e.to_string())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn field(bytes: Option<&[u8]>) -> String {
    bytes.map(lossy).unwrap_or_default()
}

fn gnu_string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    lossy(&payload[..end])
}

/// What PAX and GNU extension headers say about the entry that follows them.
#[derive(Default)]
struct Extensions {
    seen: bool,
    long_name: Option<String>,
    long_link: Option<String>,
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    uname: Option<String>,
    gname: Option<String>,
    mtime: Option<i64>,
    xattrs: BTreeMap<String, Vec<u8>>,
}

impl Extensions {
    fn is_empty(&self) -> bool {
        !self.seen && self.long_name.is_none() && self.long_link.is_none()
    }

    /// Records of the form "<length> <key>=<value>\n" (POSIX pax format).
    fn pax(&mut self, mut payload: &[u8]) -> std::result::Result<(), String> {
        self.seen = true;
        while !payload.is_empty() {
            let space = payload
                .iter()
                .position(|&b| b == b' ')
                .ok_or("PAX record without length")?;
            let length: usize = std::str::from_utf8(&payload[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&n| n > space + 1 && n <= payload.len())
                .ok_or("bad PAX record length")?;
            let record = &payload[space + 1..length - 1];
            let equals = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or("PAX record without '='")?;
            let key = lossy(&record[..equals]);
            let value = &record[equals + 1..];
            let text = || lossy(value);
            let int = || {
                text()
                    .parse::<u64>()
                    .map_err(|_| format!("PAX {key} is not a number"))
            };
            match key.as_str() {
                "path" => self.path = Some(text()),
                "linkpath" => self.link = Some(text()),
                "size" => self.size = Some(int()?),
                "uid" => self.uid = Some(int()?),
                "gid" => self.gid = Some(int()?),
                "uname" => self.uname = Some(text()),
                "gname" => self.gname = Some(text()),
                "mtime" => self.mtime = Some(pax_time(&text()).ok_or("bad PAX mtime")?),
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        self.xattrs.insert(name.to_string(), value.to_vec());
                    }
                }
            }
            payload = &payload[length..];
        }
        Ok(())
    }
}

/// A PAX time ("1700000000.25"), rounded to the nearest second as the TOC records it.
fn pax_time(text: &str) -> Option<i64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().ok()?;
    let round_up = fraction.as_bytes().first().is_some_and(|&d| d >= b'5');
    Some(if round_up && seconds >= 0 {
        seconds + 1
    } else {
        seconds
    })
}
