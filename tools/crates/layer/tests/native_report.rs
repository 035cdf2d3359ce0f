//! sematic-layer --native-report: the facts of every ELF file of a layer or piece, from ELF
//! files built by the tests (tests/common/elf.rs).

mod common;

use std::cell::Cell;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;

use common::elf::{names, Elf, EM_386, EM_AARCH64, EM_X86_64, ET_EXEC, ET_REL};
use common::Workspace;
use sematic_layer::elf::read_facts;
use sematic_oci_core::native_report::ElfKind;
use serde_json::{json, Value};

const EXT: &str = "/app/_ext/foo-1.0-0123456789ab/site";

/// A wheel's tree with ELF files of every kind the report tells apart, and other files; plus
/// an executable outside it. Returns the manifest.
fn fixture(ws: &Workspace) -> Value {
    let x86 = |glibc| Elf::glibc(EM_X86_64, glibc);
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "_x.so",
            Elf {
                needed: names(&["libm.so.6", "libc.so.6"]),
                rpath: names(&["$ORIGIN/../foo.libs:$ORIGIN"]),
                versions: vec![
                    ("libm.so.6".into(), names(&["GLIBC_2.3"])),
                    (
                        "libc.so.6".into(),
                        names(&["GLIBC_2.9", "GLIBC_2.17", "GLIBC_PRIVATE", "GLIBC_2.2.5"]),
                    ),
                ],
                ..x86("2.2.5")
            }
            .build(),
        ),
        ("_arm.so", Elf::glibc(EM_AARCH64, "2.34").build()),
        (
            "_musl.so",
            Elf {
                needed: names(&["libc.musl-x86_64.so.1"]),
                versions: Vec::new(),
                ..x86("2.17")
            }
            .build(),
        ),
        (
            "musl-tool",
            Elf {
                kind: ET_EXEC,
                interpreter: Some("/lib/ld-musl-x86_64.so.1".into()),
                needed: Vec::new(),
                versions: Vec::new(),
                ..x86("2.17")
            }
            .build(),
        ),
        (
            "i386-tool",
            Elf {
                elf64: false,
                kind: ET_EXEC,
                machine: EM_386,
                interpreter: Some("/lib/ld-linux.so.2".into()),
                versions: vec![("libc.so.6".into(), names(&["GLIBC_2.0", "GLIBC_2.1.3"]))],
                ..x86("2.17")
            }
            .build(),
        ),
        (
            "big-endian.so",
            Elf {
                little_endian: false,
                runpath: names(&["/opt/lib::$ORIGIN/lib", "$ORIGIN"]),
                ..Elf::glibc(EM_AARCH64, "2.17")
            }
            .build(),
        ),
        (
            "static",
            Elf {
                kind: ET_EXEC,
                dynamic: false,
                ..x86("2.17")
            }
            .build(),
        ),
        (
            "x.o",
            Elf {
                kind: ET_REL,
                dynamic: false,
                ..x86("2.17")
            }
            .build(),
        ),
        ("truncated.so", x86("2.17").build()[..40].to_vec()),
        (
            "README.elf",
            b"\x7fELF is how an ELF file starts\n".to_vec(),
        ),
        ("__init__.py", b"from foo import _x\n".to_vec()),
        ("notes.txt", b"ELF files\n".to_vec()),
        ("tiny", b"\x7fEL".to_vec()),
    ];
    for (name, content) in files {
        ws.write(&format!("in/foo/site/foo/{name}"), &content);
    }
    ws.write(
        "in/tool",
        &Elf {
            kind: ET_EXEC,
            ..x86("2.28")
        }
        .build(),
    );
    let tree = json!({"kind": "tree", "path": EXT, "src": "in/foo/site"});
    ws.manifest("piece.json", &json!({"entries": [tree]}));
    json!({"entries": [tree, {"kind": "file", "path": "/usr/local/bin/tool", "src": "in/tool"}]})
}

/// (path, machine, kind, libc, glibc, needed) as a report record.
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a [&'a str],
);

fn record((path, machine, kind, libc, glibc, needed): Row) -> Value {
    json!({"path": path, "machine": machine, "kind": kind, "libc": libc, "glibc": glibc, "needed": needed})
}

/// The report of the fixture's tree, in path order.
fn expected_tree() -> Vec<Value> {
    let c = &["libc.so.6"][..];
    let rows: [Row; 10] = [
        ("README.elf", "unknown", "invalid", "none", None, &[]),
        ("_arm.so", "aarch64", "dyn", "glibc", Some("2.34"), c),
        (
            "_musl.so",
            "x86_64",
            "dyn",
            "musl",
            None,
            &["libc.musl-x86_64.so.1"],
        ),
        (
            "_x.so",
            "x86_64",
            "dyn",
            "glibc",
            Some("2.17"),
            &["libm.so.6", "libc.so.6"],
        ),
        (
            "big-endian.so",
            "aarch64 (64-bit big-endian)",
            "dyn",
            "glibc",
            Some("2.17"),
            c,
        ),
        ("i386-tool", "i386", "exec", "glibc", Some("2.1.3"), c),
        ("musl-tool", "x86_64", "exec", "musl", None, &[]),
        ("static", "x86_64", "exec", "none", None, &[]),
        ("truncated.so", "x86_64", "invalid", "none", None, &[]),
        ("x.o", "x86_64", "rel", "none", None, &[]),
    ];
    let mut records: Vec<Value> = rows
        .into_iter()
        .map(|(name, machine, kind, libc, glibc, needed)| {
            record((
                &format!("{EXT}/foo/{name}"),
                machine,
                kind,
                libc,
                glibc,
                needed,
            ))
        })
        .collect();
    // Search paths, split at colons (an empty directory is dropped), appear only when set.
    records[3]["rpath"] = json!(["$ORIGIN/../foo.libs", "$ORIGIN"]);
    records[4]["runpath"] = json!(["/opt/lib", "$ORIGIN/lib", "$ORIGIN"]);
    records
}

fn report(ws: &Workspace, name: &str) -> Vec<u8> {
    fs::read(ws.path(&format!("out/{name}.report.json"))).unwrap()
}

#[test]
fn the_report_lists_exactly_the_elf_files_with_their_facts() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &fixture(&ws));
    let manifest = manifest.to_str().unwrap();
    let with = ws.layer_ok(
        "with",
        &[
            "manifest",
            manifest,
            "--native-report",
            "out/with.report.json",
        ],
    );
    let mut expected = expected_tree();
    let tool: Row = (
        "/usr/local/bin/tool",
        "x86_64",
        "exec",
        "glibc",
        Some("2.28"),
        &["libc.so.6"],
    );
    expected.push(record(tool));
    // Canonical JSON: compact, keys sorted (serde_json's map is sorted), records by path.
    assert_eq!(
        String::from_utf8(report(&ws, "with")).unwrap(),
        serde_json::to_string(&json!({"elf": expected})).unwrap()
    );
    // Recognising ELF files on the way does not change a byte of the layer.
    let without = ws.layer_ok("without", &["manifest", manifest]);
    assert!(with == without, "--native-report changed the layer");
}

#[test]
fn reports_are_reproducible_and_a_piece_reports_its_own_files() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &fixture(&ws));
    let manifest = manifest.to_str().unwrap();
    for (name, jobs) in [("one", "1"), ("two", "2")] {
        let report = format!("out/{name}.report.json");
        ws.layer_ok(
            name,
            &[
                "manifest",
                manifest,
                "--native-report",
                &report,
                "--jobs",
                jobs,
            ],
        );
    }
    assert_eq!(report(&ws, "one"), report(&ws, "two"));

    let piece = [
        "manifest",
        "piece.json",
        "--piece",
        "/app/_ext/foo-1.0-0123456789ab",
    ];
    let report_args = ["--native-report", "out/piece.report.json"];
    let (_, descriptor) = ws.layer_ok("piece", &[&piece[..], &report_args].concat());
    assert!(
        descriptor["first"].is_string(),
        "not a piece descriptor: {descriptor}"
    );
    let report: Value = serde_json::from_slice(&report(&ws, "piece")).unwrap();
    assert_eq!(report, json!({"elf": expected_tree()}));
}

#[test]
fn nothing_is_written_when_the_layer_or_its_report_fails() {
    let ws = Workspace::new();
    let manifest = ws.manifest("entries.json", &fixture(&ws));
    let manifest = manifest.to_str().unwrap();
    ws.write("rootfs.tar", b"");
    ws.layer_fails(
        &["from-tar", "rootfs.tar", "--native-report", "out/r.json"],
        &["unexpected argument '--native-report' found"],
    );
    ws.layer_fails(
        &["assemble", "a.json=a.blob", "--native-report", "out/r.json"],
        &["unexpected argument '--native-report' found"],
    );
    let missing = ws.manifest(
        "missing.json",
        &json!({"entries": [{"kind": "file", "path": "/x.so", "src": "in/nothing.so"}]}),
    );
    ws.layer_fails(
        &[
            "manifest",
            missing.to_str().unwrap(),
            "--native-report",
            "out/r.json",
        ],
        &["src in/nothing.so does not exist"],
    );
    // The report cannot be written after the whole layer was: the blob and descriptor are
    // not committed either.
    ws.write("blocker", b"a file where the report's directory should be");
    ws.layer_fails(
        &[
            "manifest",
            manifest,
            "--native-report",
            "blocker/report.json",
        ],
        &["blocker"],
    );
}

/// A file read through positioned reads only, counting the bytes read.
struct Counting {
    file: File,
    read: Cell<u64>,
}

impl FileExt for Counting {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let read = self.file.read_at(buf, offset)?;
        self.read.set(self.read.get() + read as u64);
        Ok(read)
    }

    fn write_at(&self, _: &[u8], _: u64) -> io::Result<usize> {
        Err(io::Error::other("read only"))
    }
}

#[test]
fn a_large_file_with_tables_past_its_end_is_read_in_a_few_small_pieces() {
    let ws = Workspace::new();
    let size: u64 = 64 << 20;
    let header = Elf::glibc(EM_X86_64, "2.17").build()[..64].to_vec();
    // Program headers past the end, then a dynamic segment spanning 64 MiB of zeros (its first
    // entry ends it), then one of non-zero entries that never end.
    let mut past_end = header.clone();
    past_end[32..40].copy_from_slice(&(size + 4096).to_le_bytes());
    let endless_dynamic = |fill: u8| {
        let mut bytes = header.clone();
        bytes[54..58].copy_from_slice(&[56, 0, 1, 0]); // one program header, at 64
        let mut phdr = [0u8; 56];
        phdr[0] = 2; // PT_DYNAMIC
        phdr[8..16].copy_from_slice(&128u64.to_le_bytes());
        phdr[32..40].copy_from_slice(&(size - 128).to_le_bytes());
        bytes.extend_from_slice(&phdr);
        bytes.resize(128, 0);
        bytes.resize(128 + (2 << 20), fill);
        bytes
    };
    for (name, content, kind, limit) in [
        ("past_end", past_end, ElfKind::Invalid, 16 << 10),
        ("zeros", endless_dynamic(0), ElfKind::Dyn, 16 << 10),
        (
            "endless",
            endless_dynamic(0xee),
            ElfKind::Dyn,
            (1 << 20) + (16 << 10),
        ),
    ] {
        let path = ws.write(&format!("in/big/{name}.so"), &content);
        let file = File::options().write(true).open(&path).unwrap();
        file.set_len(size).unwrap(); // sparse: no 64 MiB written
        let counting = Counting {
            file: File::open(&path).unwrap(),
            read: Cell::new(0),
        };
        let facts = read_facts(format!("/{name}.so"), &counting, size).unwrap();
        assert_eq!(facts.kind, kind, "{name}");
        assert!(
            counting.read.get() <= limit,
            "{name}: read {} bytes",
            counting.read.get()
        );
    }

    // Through the binary too: the whole file goes into the tar, a few bytes into the report.
    let entry = json!({"kind": "file", "path": "/big/past_end.so", "src": "in/big/past_end.so"});
    ws.manifest("big.json", &json!({"entries": [entry]}));
    let report_args = ["--native-report", "out/big.report.json"];
    ws.layer_ok(
        "big",
        &[
            &["manifest", "big.json", "--compression", "none"][..],
            &report_args,
        ]
        .concat(),
    );
    let report: Value = serde_json::from_slice(&report(&ws, "big")).unwrap();
    assert_eq!(report["elf"][0]["kind"], "invalid");
    assert_eq!(
        fs::metadata(ws.path("out/big.blob")).unwrap().len(),
        size + 2 * 512 + 1024
    );
}
