//! The blob read back as any gzip consumer and as a lazy puller would: one gzip stream giving
//! the input's entries byte for byte, a footer and TOC whose offsets point at the members
//! holding each chunk, and the same bytes on every run.

use std::io::{Cursor, Read};

use flate2::read::{GzDecoder, MultiGzDecoder};
use sematic_estargz::{write, Blob, Error, Options, FOOTER_SIZE};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A tar with a directory, a small file, a big file (several chunks), an empty file, a
/// symlink, a hard link, a long name (GNU extension header) and a PAX xattr.
fn sample_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let add = |builder: &mut tar::Builder<Vec<u8>>,
               path: &str,
               kind: tar::EntryType,
               data: &[u8],
               link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_mtime(1_700_000_000);
        header.set_uid(1000);
        header.set_gid(1000);
        header.set_username("sematic").unwrap();
        header.set_groupname("sematic").unwrap();
        if let Some(link) = link {
            builder.append_link(&mut header, path, link).unwrap();
        } else {
            builder.append_data(&mut header, path, data).unwrap();
        }
    };
    add(&mut builder, "app/", tar::EntryType::Directory, b"", None);
    add(
        &mut builder,
        "app/small.txt",
        tar::EntryType::Regular,
        b"hello\n",
        None,
    );
    add(
        &mut builder,
        "app/big.bin",
        tar::EntryType::Regular,
        &big(),
        None,
    );
    add(
        &mut builder,
        "app/empty",
        tar::EntryType::Regular,
        b"",
        None,
    );
    add(
        &mut builder,
        "app/link",
        tar::EntryType::Symlink,
        b"",
        Some("small.txt"),
    );
    add(
        &mut builder,
        "app/hard",
        tar::EntryType::Link,
        b"",
        Some("app/small.txt"),
    );
    let long = format!("app/{}/deep.txt", "d".repeat(120));
    add(
        &mut builder,
        &long,
        tar::EntryType::Regular,
        b"deep\n",
        None,
    );
    builder
        .append_pax_extensions([("SCHILY.xattr.user.note", &b"x"[..])])
        .unwrap();
    add(
        &mut builder,
        "app/xattr.txt",
        tar::EntryType::Regular,
        b"attr\n",
        None,
    );
    builder.into_inner().unwrap()
}

fn big() -> Vec<u8> {
    (0..10_000u32)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect()
}

fn build(tar: &[u8], options: &Options) -> (Vec<u8>, Blob) {
    let mut blob = Vec::new();
    let facts = write(Cursor::new(tar), &mut blob, options).unwrap();
    (blob, facts)
}

fn small_chunks() -> Options {
    Options {
        chunk_size: 16 << 10,
        ..Options::default()
    }
}

fn gunzip_all(blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(blob).read_to_end(&mut out).unwrap();
    out
}

/// The input's records without its end-of-archive blocks.
fn records(tar: &[u8]) -> &[u8] {
    let mut end = tar.len();
    while end >= 512 && tar[end - 512..end].iter().all(|&b| b == 0) {
        end -= 512;
    }
    &tar[..end]
}

/// Decompresses the single member at `offset` (not the ones after it).
fn member(blob: &[u8], offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(&blob[offset as usize..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn toc(blob: &[u8]) -> Value {
    let footer = &blob[blob.len() - FOOTER_SIZE..];
    let mut decoder = GzDecoder::new(footer);
    decoder.read_to_end(&mut Vec::new()).unwrap();
    let extra = decoder.header().unwrap().extra().unwrap().to_vec();
    assert_eq!(&extra[..4], b"SG\x16\x00");
    assert_eq!(&extra[20..], b"STARGZ");
    let offset = u64::from_str_radix(std::str::from_utf8(&extra[4..20]).unwrap(), 16).unwrap();
    let tar = member(blob, offset);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.path().unwrap().to_str().unwrap(), "stargz.index.json");
    let mut json = Vec::new();
    entry.read_to_end(&mut json).unwrap();
    serde_json::from_slice(&json).unwrap()
}

fn landmark_record(name: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_path(name).unwrap();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder.append(&header, &[0xf][..]).unwrap();
    let mut record = builder.into_inner().unwrap();
    record.truncate(1024);
    record
}

#[test]
fn one_gzip_stream_gives_back_the_input_entries() {
    let tar = sample_tar();
    let (blob, facts) = build(&tar, &small_chunks());
    let plain = gunzip_all(&blob);
    let landmark = landmark_record(".no.prefetch.landmark");
    assert_eq!(&plain[..1024], &landmark[..]);
    let body = records(&tar);
    assert_eq!(&plain[1024..1024 + body.len()], body);
    // Then the TOC entry and the end-of-archive blocks, nothing else.
    let names: Vec<String> = tar::Archive::new(&plain[1024 + body.len()..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["stargz.index.json"]);
    assert_eq!(facts.uncompressed_size, plain.len() as u64);
    assert_eq!(
        facts.diff_id,
        format!("sha256:{:x}", Sha256::digest(&plain))
    );
    assert_eq!(facts.digest, format!("sha256:{:x}", Sha256::digest(&blob)));
    assert_eq!(facts.size, blob.len() as u64);
}

#[test]
fn toc_offsets_point_at_each_chunk_and_digests_match() {
    let tar = sample_tar();
    let options = small_chunks();
    let (blob, facts) = build(&tar, &options);
    let toc = toc(&blob);
    let json = serde_json::to_vec(&toc).unwrap();
    assert!(!json.is_empty());
    let entries = toc["entries"].as_array().unwrap();
    let data = big();
    let mut chunks = 0;
    for entry in entries {
        let kind = entry["type"].as_str().unwrap();
        let name = entry["name"].as_str().unwrap();
        if kind != "reg" && kind != "chunk" || entry["offset"].is_null() {
            continue;
        }
        let offset = entry["offset"].as_u64().unwrap();
        let chunk_offset = entry["chunkOffset"].as_u64().unwrap_or(0);
        let whole = match name {
            "app/big.bin" => data.clone(),
            ".no.prefetch.landmark" => vec![0xf],
            "app/small.txt" => b"hello\n".to_vec(),
            "app/xattr.txt" => b"attr\n".to_vec(),
            other => {
                assert!(other.ends_with("/deep.txt"), "{other}");
                b"deep\n".to_vec()
            }
        };
        let size = entry["chunkSize"]
            .as_u64()
            .unwrap_or(whole.len() as u64 - chunk_offset);
        let expected = &whole[chunk_offset as usize..(chunk_offset + size) as usize];
        assert_eq!(
            &member(&blob, offset)[..size as usize],
            expected,
            "{name} at {chunk_offset}"
        );
        let digest = format!("sha256:{:x}", Sha256::digest(expected));
        assert_eq!(entry["chunkDigest"], digest.as_str(), "{name}");
        if name == "app/big.bin" {
            chunks += 1;
        }
    }
    assert_eq!(chunks, data.len().div_ceil(16 << 10));
    let big_entry = entries.iter().find(|e| e["name"] == "app/big.bin").unwrap();
    assert_eq!(
        big_entry["digest"],
        format!("sha256:{:x}", Sha256::digest(&data)).as_str()
    );
    assert_eq!(big_entry["size"], data.len());
    assert_eq!(big_entry["modtime"], "2023-11-14T22:13:20Z");
    assert_eq!(big_entry["userName"], "sematic");
    let xattr = entries
        .iter()
        .find(|e| e["name"] == "app/xattr.txt")
        .unwrap();
    assert_eq!(xattr["xattrs"]["user.note"], "eA==");
    let hard = entries.iter().find(|e| e["name"] == "app/hard").unwrap();
    assert_eq!(
        (hard["type"].as_str(), hard["linkName"].as_str()),
        (Some("hardlink"), Some("app/small.txt"))
    );
    assert!(facts.toc_digest.starts_with("sha256:"));
}

#[test]
fn toc_digest_is_the_digest_of_the_toc_bytes() {
    let (blob, facts) = build(&sample_tar(), &Options::default());
    let plain = gunzip_all(&blob);
    let mut archive = tar::Archive::new(&plain[..]);
    let mut toc_bytes = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("stargz.index.json") {
            entry.read_to_end(&mut toc_bytes).unwrap();
        }
    }
    assert_eq!(
        facts.toc_digest,
        format!("sha256:{:x}", Sha256::digest(&toc_bytes))
    );
}

#[test]
fn same_input_same_bytes() {
    let tar = sample_tar();
    let (first, _) = build(&tar, &small_chunks());
    let (second, _) = build(&tar, &small_chunks());
    assert_eq!(first, second);
    let (default_chunks, _) = build(&tar, &Options::default());
    assert_ne!(first, default_chunks, "the chunk size shapes the members");
}

#[test]
fn prioritized_files_come_first_with_their_parents_then_the_landmark() {
    let names = names_with(&["./app/hard", "app/xattr.txt"]);
    assert_eq!(
        names[..6],
        [
            "app/",
            "app/small.txt",
            "app/hard",
            "app/xattr.txt",
            ".prefetch.landmark",
            "app/big.bin"
        ]
    );
    let options = Options {
        prioritized: vec!["app/xattr.txt".into()],
        ..small_chunks()
    };
    let toc = toc(&build(&sample_tar(), &options).0);
    let landmark = toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == ".prefetch.landmark");
    assert!(landmark.unwrap()["offset"].as_u64().unwrap() > 0);
}

/// The entry names of the blob built from the sample tar with `prioritized`.
fn names_with(prioritized: &[&str]) -> Vec<String> {
    let options = Options {
        prioritized: prioritized.iter().map(|p| (*p).to_owned()).collect(),
        ..small_chunks()
    };
    let (blob, _) = build(&sample_tar(), &options);
    let plain = gunzip_all(&blob);
    let names = tar::Archive::new(&plain[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names
}

#[test]
fn a_prioritized_directory_brings_its_tree_and_the_root_the_whole_layer() {
    let plain = names_with(&[]);
    let landmark = |names: &[String]| names.iter().position(|n| n == ".prefetch.landmark");
    let tree = names_with(&["app"]);
    assert_eq!(landmark(&tree), Some(plain.len() - 2), "{tree:?}");
    let root = names_with(&["/"]);
    assert_eq!(landmark(&root), Some(plain.len() - 2), "{root:?}");
    // Everything but the two landmarks and the TOC, in the original order.
    let keep = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter(|n| !n.contains("landmark") && *n != "stargz.index.json")
            .cloned()
            .collect()
    };
    assert_eq!(keep(&tree), keep(&plain));
    assert_eq!(keep(&root), keep(&plain));
}

#[test]
fn bad_inputs_are_named() {
    let missing = Options {
        prioritized: vec!["app/nope".into()],
        ..Options::default()
    };
    let error = write(Cursor::new(sample_tar()), Vec::new(), &missing).unwrap_err();
    assert!(
        matches!(&error, Error::PrioritizedMissing { path } if path == "app/nope"),
        "{error}"
    );

    let mut garbage = sample_tar();
    garbage[0] ^= 0xff;
    let error = write(Cursor::new(garbage), Vec::new(), &Options::default()).unwrap_err();
    assert!(matches!(error, Error::NotTar { offset: 0 }), "{error}");

    let tar = sample_tar();
    let cut = &tar[..tar.len() / 2];
    let error = write(Cursor::new(records(cut)), Vec::new(), &Options::default()).unwrap_err();
    assert!(matches!(error, Error::Truncated { .. }), "{error}");

    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(2);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "./stargz.index.json", &b"{}"[..])
        .unwrap();
    let error = write(
        Cursor::new(builder.into_inner().unwrap()),
        Vec::new(),
        &Options::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::Reserved { name } if name.ends_with("stargz.index.json")),
        "{error}"
    );
    assert!(error.to_string().contains("rename"));
}
