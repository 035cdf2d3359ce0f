//! The TOC (`stargz.index.json`): one entry per tar entry and one per further chunk of a
//! chunked file, serialized deterministically (fields in the reference implementation's
//! order, xattrs sorted, tab-indented, no trailing newline: the reader's digest covers exactly
//! the JSON value).

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Serialize, Serializer};

use crate::scan::Entry;

/// The TOC's format version.
const VERSION: u32 = 1;

#[derive(Serialize)]
pub struct Toc {
    pub version: u32,
    pub entries: Vec<TocEntry>,
}

impl Toc {
    pub fn new() -> Self {
        Toc {
            version: VERSION,
            entries: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut json, formatter);
        self.serialize(&mut serializer)
            .expect("serializing plain structs into memory cannot fail");
        json
    }
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TocEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(rename = "modtime", skip_serializing_if = "String::is_empty")]
    pub mod_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub link_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub mode: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub uid: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub gid: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub dev_major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub dev_minor: u64,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "base64_values"
    )]
    pub xattrs: BTreeMap<String, Vec<u8>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub chunk_offset: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub chunk_size: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub chunk_digest: String,
}

impl TocEntry {
    /// The entry's metadata; offsets and digests are filled in as its data is written.
    pub fn from_tar(entry: &Entry) -> Self {
        TocEntry {
            name: entry.name.clone(),
            kind: entry.kind.toc_name(),
            size: if entry.kind == crate::scan::Kind::Reg {
                entry.size
            } else {
                0
            },
            mod_time: rfc3339(entry.mtime),
            link_name: entry.link_name.clone(),
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            // Always spelled out: the reader's fallback for an omitted group name looks the
            // gid up among user names.
            user_name: entry.user_name.clone(),
            group_name: entry.group_name.clone(),
            dev_major: entry.dev_major,
            dev_minor: entry.dev_minor,
            xattrs: entry.xattrs.clone(),
            ..TocEntry::default()
        }
    }

    /// A further chunk of the file `name`.
    pub fn chunk(name: &str) -> Self {
        TocEntry {
            name: name.to_string(),
            kind: "chunk",
            ..TocEntry::default()
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn base64_values<S: Serializer>(map: &BTreeMap<String, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    let engine = base64::engine::general_purpose::STANDARD;
    s.collect_map(map.iter().map(|(k, v)| (k, engine.encode(v))))
}

/// `seconds` as RFC 3339 in UTC ("2023-11-14T22:13:20Z"); empty for the epoch itself, which
/// the reference writer leaves out too.
pub fn rfc3339(seconds: i64) -> String {
    if seconds == 0 {
        return String::new();
    }
    let days = seconds.div_euclid(86_400);
    let time = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(rfc3339(0), "");
        assert_eq!(rfc3339(1), "1970-01-01T00:00:01Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
