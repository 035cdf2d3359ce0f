//! sematic-layer from-tar, end to end through the built binary.

mod common;

use std::fs;

use common::{decompress, python, sha256, tar_listing, Workspace};

/// Writes `rootfs.tar` the way a distro bootstrap would, in a deliberately unsorted order:
/// `./` prefixes, owners with names, a setuid binary, absolute symlinks, a hard link whose name
/// sorts before its data-carrying target, devices, a fifo, xattrs, long names, real mtimes, and
/// a missing parent directory.
const MAKE_ROOTFS: &str = r##"
import io, sys, tarfile
out = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, type=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, **extra):
    info = tarfile.TarInfo(name)
    info.type = type
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.uname, info.gname = "alice", "staff"
    info.mtime = 1700000000
    info.size = len(data) if type == tarfile.REGTYPE else 0
    for key, value in extra.items():
        setattr(info, key, value)
    out.addfile(info, io.BytesIO(data) if type == tarfile.REGTYPE else None)
add("./", tarfile.DIRTYPE, mode=0o755)
add("./usr/", tarfile.DIRTYPE, mode=0o755)
add("./usr/bin/", tarfile.DIRTYPE, mode=0o755)
add("./usr/bin/zz-data", data=b"shared bytes" * 1000, mode=0o755)
add("./bin/", tarfile.DIRTYPE, mode=0o755)
add("./bin/aa-link", tarfile.LNKTYPE, linkname="./usr/bin/zz-data", mode=0o755)
add("./usr/bin/mm-link", tarfile.LNKTYPE, linkname="./bin/aa-link", mode=0o755)
add("./usr/bin/sudo", data=b"#!/bin/false\n", mode=0o4755, uid=0, gid=50)
add("./home/", tarfile.DIRTYPE, mode=0o755)
add("./home/alice/", tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000)
add("./home/alice/notes", data=b"hi\n", mode=0o600, uid=1000, gid=1000,
    pax_headers={"SCHILY.xattr.user.comment": "x", "atime": "1700000001.5", "ctime": "1700000002"})
add("./tmp/", tarfile.DIRTYPE, mode=0o1777)
add("./usr/bin/python3", tarfile.SYMTYPE, linkname="/usr/bin/python3.11", mode=0o777)
add("./dev/", tarfile.DIRTYPE, mode=0o755)
add("./dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
add("./dev/sda", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=8, devminor=0)
add("./run/initctl", tarfile.FIFOTYPE, mode=0o600)
add("./usr/share/" + "deep/" * 30 + "file.txt", data=b"long name\n")
add("./etc/alternatives/" + "x" * 120, tarfile.SYMTYPE, linkname="/usr/lib/" + "y" * 120, mode=0o777)
out.close()
"##;

fn rootfs(ws: &Workspace) -> String {
    let path = ws.path("rootfs.tar");
    python(MAKE_ROOTFS, &[&path]);
    path.to_str().unwrap().to_owned()
}

#[test]
fn rootfs_tar_is_normalised_keeping_owners_modes_links_and_devices() {
    let ws = Workspace::new();
    let input = rootfs(&ws);
    let (blob, descriptor) = ws.layer_ok("layer", &["from-tar", &input, "--compression", "none"]);
    assert_eq!(descriptor["diffId"], sha256(&blob));
    let deep = format!("usr/share/{}file.txt", "deep/".repeat(30));
    let alt = format!(
        "etc/alternatives/{} -> /usr/lib/{}",
        "x".repeat(120),
        "y".repeat(120)
    );
    let expected = [
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 bin/".to_owned(),
        "-rwxr-xr-x 0/0 12000 1970-01-01 00:00:00 bin/aa-link".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 dev/".into(),
        "crw-rw-rw- 0/0 1,3 1970-01-01 00:00:00 dev/null".into(),
        "brw-rw---- 0/6 8,0 1970-01-01 00:00:00 dev/sda".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 etc/".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 etc/alternatives/".into(),
        format!("lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 {alt}"),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 home/".into(),
        "drwx------ 1000/1000 0 1970-01-01 00:00:00 home/alice/".into(),
        "-rw------- 1000/1000 3 1970-01-01 00:00:00 home/alice/notes".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 run/".into(),
        "prw------- 0/0 0 1970-01-01 00:00:00 run/initctl".into(),
        "drwxrwxrwt 0/0 0 1970-01-01 00:00:00 tmp/".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/".into(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/".into(),
        "hrwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/mm-link link to bin/aa-link".into(),
        "lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 usr/bin/python3 -> /usr/bin/python3.11".into(),
        "-rwsr-xr-x 0/50 13 1970-01-01 00:00:00 usr/bin/sudo".into(),
        "hrwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/zz-data link to bin/aa-link".into(),
    ];
    let listing = tar_listing(&blob);
    // The 30 implied `deep/` directories sit between usr/bin/ and the deep file.
    let (head, tail) = listing.split_at(expected.len());
    assert_eq!(head, expected);
    assert_eq!(tail.len(), 1 + 30 + 1, "{tail:?}");
    assert_eq!(tail[0], "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/share/");
    assert_eq!(
        tail.last().unwrap(),
        &format!("-rw-r--r-- 0/0 10 1970-01-01 00:00:00 {deep}")
    );
    assert_eq!(descriptor["entries"], listing.len());

    // No names, times or xattrs survive, and the data moved to the first name of the group.
    let details = python(
        "import tarfile, sys\n\
         for m in tarfile.open(sys.argv[1]):\n\
         \x20print(m.name, repr(m.uname), repr(m.gname), m.mtime, sorted(m.pax_headers))\n\
         t = tarfile.open(sys.argv[1])\n\
         print(t.extractfile('bin/aa-link').read() == b'shared bytes' * 1000)",
        &[&ws.path("out/layer.blob")],
    );
    for line in details.lines().filter(|line| line.contains(' ')) {
        assert!(line.ends_with(" '' '' 0 []"), "{line}");
    }
    assert_eq!(details.lines().last(), Some("True"));
}

#[test]
fn converting_its_own_output_is_idempotent() {
    let ws = Workspace::new();
    let input = rootfs(&ws);
    let (first, _) = ws.layer_ok("first", &["from-tar", &input, "--compression", "none"]);
    let first_path = ws.path("first.tar");
    fs::write(&first_path, &first).unwrap();
    let first_path = first_path.to_str().unwrap();
    let (second, _) = ws.layer_ok("second", &["from-tar", first_path, "--compression", "none"]);
    assert!(first == second, "a second conversion changed the tar");

    // And the compressed layers of both agree, for any job count.
    let (gzip_a, da) = ws.layer_ok("a", &["from-tar", &input, "--jobs", "1"]);
    let (gzip_b, db) = ws.layer_ok("b", &["from-tar", first_path, "--jobs", "8"]);
    assert!(gzip_a == gzip_b);
    assert_eq!(da, db);
    assert_eq!(decompress("gzip", &gzip_a), first);
}

#[test]
fn bad_rootfs_tars_fail_cleanly() {
    let ws = Workspace::new();
    let cases = [
        (
            "escape.tar",
            r#"add("./etc/../../x", data=b"x")"#,
            vec!["escape.tar", "\"..\""],
        ),
        (
            "dangling.tar",
            r#"add("./a", tarfile.LNKTYPE, linkname="./missing")"#,
            vec!["dangling.tar", "\"./a\"", "not an earlier entry"],
        ),
        (
            "twice.tar",
            r#"add("./a", data=b"1"); add("./a", data=b"2")"#,
            vec!["twice.tar", "\"./a\"", "appears twice"],
        ),
        (
            "notdir.tar",
            r#"add("./a", data=b"1"); add("./a/b", data=b"2")"#,
            vec!["notdir.tar", "needs \"a\" to be a directory"],
        ),
    ];
    for (name, body, expected) in cases {
        let script =
            MAKE_ROOTFS.split("add(\"./\"").next().unwrap().to_owned() + body + "\nout.close()\n";
        let path = ws.path(name);
        python(&script, &[&path]);
        ws.layer_fails(&["from-tar", path.to_str().unwrap()], &expected);
    }
    ws.write("garbage.tar", &[b'x'; 1024]);
    ws.layer_fails(&["from-tar", "garbage.tar"], &["garbage.tar"]);
    ws.layer_fails(&["from-tar", "missing.tar"], &["missing.tar"]);
    ws.write("empty.tar", b"");
    ws.layer_fails(
        &["from-tar", "empty.tar"],
        &["empty.tar is empty (0 bytes)"],
    );
}

#[test]
fn a_descriptor_written_over_the_output_is_refused_before_anything_is_written() {
    let ws = Workspace::new();
    ws.write("rootfs.tar", &[0; 1024]);
    let output = std::process::Command::new(common::BIN)
        .current_dir(ws.path(""))
        .args([
            "from-tar",
            "rootfs.tar",
            "--output",
            "out/x",
            "--descriptor",
        ])
        .arg(ws.path("out/./x"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "sematic-layer: error: --descriptor and --output are both out/x: give each its own file\n"
    );
    assert_eq!(fs::read_dir(ws.path("out")).unwrap().count(), 0);
}
