"""debian_image: a small base image built from Debian packages with mmdebstrap, offline-friendly,
for every image platform.

mmdebstrap's `extract` variant unpacks the packages (and their dependencies) without running
maintainer scripts: a python3 root filesystem in seconds, for any architecture without emulation.
`debian_image(name = "x")` declares `@x_amd64` and `@x_arm64` (one root filesystem each, made
only when an image for that CPU needs it) and `@x//image`, which picks the one matching the
platform the image is built for. The rootfs tarball is normalised by sematic-layer, so the
image digest depends only on the packages' content: the same mirror snapshot gives the same
digest on every machine. The Python interpreter the packages install is found in the root
filesystem and becomes the base's declared Python; libc6's version becomes its declared glibc.

With `$RULES_SEMATIC_DEBIAN_CACHE` set to a directory, root filesystems are kept there by their
inputs (suite, architecture, packages, mirror): the next output base or machine sharing it gets
the same bytes without the network (the tests use one the bootstrap fills). Delete an entry to
pick up newer packages.
"""

load(":platforms.bzl", "CPUS")

_ARCH_BUILD = """\
load("@rules_sematic//private:base.bzl", "sematic_base_image")
load("@rules_sematic//private:layer.bzl", "sematic_layer")

# What the extract variant leaves out because maintainer scripts would have created it.
sematic_layer(
    name = "system",
    directories = {{
        "/root": "0700",
        "/tmp": "1777",
    }},
    files = {{
        ":group": "/etc/group",
        ":passwd": "/etc/passwd",
    }},
    history = "rules_sematic debian_image: users, home, /tmp, symlinks",
    symlinks = {symlinks},
)

exports_files(["rootfs.tar"])

sematic_base_image(
    name = "image",
    env = {env},
    layers = [":system"],
    libc = {libc},
    python_interpreter = {interpreter},
    python_version = {version},
    rootfs = "rootfs.tar",
    visibility = ["//visibility:public"],
)
"""

_HUB_BUILD = """\
alias(
    name = "image",
    actual = select(
        {choices},
        no_match_error = "debian_image {name} is built for {cpus} CPUs only",
    ),
    visibility = ["//visibility:public"],
)
"""

_MERGED_USR = ["bin", "lib", "lib32", "lib64", "libx32", "sbin"]

_CACHE_ENV = "RULES_SEMATIC_DEBIAN_CACHE"

def _listing(rctx):
    """{path: symlink target or None} of every entry of image/rootfs.tar (paths without `./`)."""
    result = rctx.execute(["tar", "-tvf", rctx.path("image/rootfs.tar")], timeout = 300)
    if result.return_code != 0:
        fail("debian_image(%s): cannot list rootfs.tar: %s" % (rctx.attr.image_name, result.stderr))
    entries = {}
    for line in result.stdout.splitlines():
        # "lrwxrwxrwx 0/0 0 1970-01-01 00:00 ./usr/bin/python3 -> python3.11": mmdebstrap
        # names every entry `./…`.
        start = line.find(" ./")
        if start < 0:
            continue
        name, _, target = line[start + 3:].partition(" -> ")
        entries[name.rstrip("/")] = target or None
    return entries

def _merged_usr_symlinks(entries):
    """`/bin -> usr/bin` & co. where the packages only ship /usr (Debian >= trixie).

    Those links come from maintainer scripts, which the extract variant does not run; without
    /lib64 the ELF loader of every binary is missing. Suites whose packages still ship /bin
    (bookworm) keep their real directories: a link over them would hide their content.
    """
    top = {}
    for path in entries:
        parts = path.split("/")
        top[parts[0]] = True
        top["/".join(parts[:2])] = True
    return {
        "/" + name: "usr/" + name
        for name in _MERGED_USR
        if name not in top and ("usr/" + name) in top
    }

def _python(entries, symlinks):
    """(interpreter path, `major.minor`) of the root filesystem's Python 3, or (None, None).

    `/usr/bin/python3` when it exists (from the packages or `symlinks`) and points at a
    `python3.X` of the tree; else the only `/usr/bin/python3.X`.
    """
    versions = sorted([
        path[len("usr/bin/python"):]
        for path in entries
        if path.startswith("usr/bin/python3.") and path[len("usr/bin/python3."):].isdigit()
    ])
    target = symlinks.get("/usr/bin/python3") or entries.get("usr/bin/python3")
    if target and target.startswith("python3.") and target[len("python"):] in versions:
        return "/usr/bin/python3", target[len("python"):]
    if len(versions) == 1:
        return "/usr/bin/python" + versions[0], versions[0]
    return None, None

def _glibc(rctx, entries):
    """`glibc X.Y` of the root filesystem's libc6 package (from its Debian changelog), or None."""
    changelog = "usr/share/doc/libc6/changelog.Debian.gz"
    if changelog not in entries:
        return None
    result = rctx.execute(["sh", "-c", 'tar -xOf "$1" "./$2" | gzip -dc | head -n 1', "sh", rctx.path("image/rootfs.tar"), changelog])

    # "glibc (2.36-9+deb12u13) bookworm; urgency=medium"
    version = result.stdout.partition("(")[2].partition("-")[0].split(".")
    if result.return_code != 0 or len(version) < 2 or not version[0].isdigit() or not version[1].isdigit():
        fail("debian_image(%s): cannot read the glibc version from %s: %s" % (rctx.attr.image_name, changelog, result.stderr or result.stdout))
    return "glibc %s.%s" % (version[0], version[1])

def _cache_entry(rctx):
    """The cache file for this root filesystem, or None without $RULES_SEMATIC_DEBIAN_CACHE."""
    cache = rctx.os.environ.get(_CACHE_ENV)
    if not cache:
        return None
    inputs = "\n".join([rctx.attr.suite, rctx.attr.architecture, rctx.attr.mirror] + rctx.attr.packages)
    rctx.file("_cache_key", inputs)
    digest = rctx.execute(["sha256sum", "_cache_key"]).stdout.split(" ")[0]
    rctx.delete("_cache_key")
    return "%s/%s-%s-%s.tar" % (cache, rctx.attr.suite, rctx.attr.architecture, digest[:16])

def _mmdebstrap(rctx, output):
    mmdebstrap = rctx.which("mmdebstrap")
    if not mmdebstrap:
        fail("debian_image(%s): mmdebstrap not found: apt-get install mmdebstrap (tools/bootstrap.sh installs it)" % rctx.attr.image_name)
    rctx.report_progress("mmdebstrap %s %s: %s" % (rctx.attr.suite, rctx.attr.architecture, ", ".join(rctx.attr.packages)))
    result = rctx.execute(
        [
            mmdebstrap,
            "--quiet",
            "--variant=extract",
            "--architectures=" + rctx.attr.architecture,
            "--include=" + ",".join(rctx.attr.packages),
            # Snapshot mirrors serve Release files past their Valid-Until date.
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            rctx.attr.suite,
            output,
            rctx.attr.mirror,
        ],
        environment = {"SOURCE_DATE_EPOCH": "0"},
        timeout = rctx.attr.timeout,
        quiet = True,
    )
    if result.return_code != 0:
        fail("debian_image(%s): mmdebstrap %s %s failed (exit %d): %s" % (rctx.attr.image_name, rctx.attr.suite, rctx.attr.architecture, result.return_code, result.stderr[-3000:]))

def _debian_rootfs_impl(rctx):
    # Checked here, when the image is built, not when it is declared: a module extension that
    # failed would fail every build of the workspace.
    if not rctx.attr.packages:
        fail("debian_image(%s): packages is empty: list what the image needs, e.g. [\"python3\"]" % rctx.attr.image_name)
    rctx.file("image/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    rctx.file("image/group", "root:x:0:\nnogroup:x:65534:\n")
    rootfs = rctx.path("image/rootfs.tar")
    cached = _cache_entry(rctx)
    if cached and rctx.path(cached).exists:
        rctx.report_progress("root filesystem from %s" % cached)
        rctx.execute(["cp", cached, rootfs])
    else:
        _mmdebstrap(rctx, rootfs)
        if cached:
            # Renamed into place: a concurrent or interrupted fill never leaves half a file.
            result = rctx.execute(["sh", "-c", 'mkdir -p "$(dirname "$2")" && cp "$1" "$2.$$" && mv "$2.$$" "$2"', "sh", rootfs, cached])
            if result.return_code != 0:
                fail("debian_image(%s): cannot store the root filesystem in %s: %s" % (rctx.attr.image_name, cached, result.stderr))
    entries = _listing(rctx)
    symlinks = _merged_usr_symlinks(entries)
    symlinks.update(rctx.attr.symlinks)
    interpreter, version = _python(entries, rctx.attr.symlinks)
    rctx.file("image/BUILD.bazel", _ARCH_BUILD.format(
        env = repr(rctx.attr.env),
        interpreter = repr(interpreter),
        libc = repr(_glibc(rctx, entries)),
        symlinks = repr(symlinks),
        version = repr(version),
    ))
    rctx.file("BUILD.bazel", "")

DEBIAN_IMAGE_ATTRS = {
    "env": attr.string_dict(
        default = {
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        },
        doc = "Image environment.",
    ),
    "mirror": attr.string(
        default = "http://deb.debian.org/debian",
        doc = "Debian archive URL; a snapshot.debian.org URL pins the package versions.",
    ),
    "packages": attr.string_list(
        doc = "Packages to unpack, with their dependencies (at least one).",
    ),
    "suite": attr.string(
        default = "bookworm",
        doc = "Debian suite, e.g. bookworm or sid.",
    ),
    "symlinks": attr.string_dict(
        doc = "Image path -> target, e.g. {\"/usr/bin/python3\": \"python3.13\"} when the " +
              "distribution's python3 package is not the version you want.",
    ),
    "timeout": attr.int(
        default = 900,
        doc = "Seconds mmdebstrap may take.",
    ),
}

_debian_rootfs = repository_rule(
    implementation = _debian_rootfs_impl,
    doc = "One architecture of a debian_image: its root filesystem and `//image`.",
    attrs = dict(DEBIAN_IMAGE_ATTRS, architecture = attr.string(mandatory = True), image_name = attr.string(mandatory = True)),
    environ = [_CACHE_ENV],
)

def _debian_image_hub_impl(rctx):
    rctx.file("image/BUILD.bazel", _HUB_BUILD.format(
        choices = repr({"@platforms//cpu:" + cpu: label for cpu, label in rctx.attr.images.items()}),
        cpus = " and ".join(sorted(rctx.attr.images)),
        name = rctx.attr.name,
    ))
    rctx.file("BUILD.bazel", "")

_debian_image_hub = repository_rule(
    implementation = _debian_image_hub_impl,
    attrs = {"images": attr.string_dict(doc = "@platforms CPU -> the image for it.")},
)

def debian_image(name, **kwargs):
    """A base image `@<name>//image` made of Debian packages, for every image platform.

    Args:
      name: repository name; `@<name>_<arch>` repositories hold each architecture.
      **kwargs: the attributes in DEBIAN_IMAGE_ATTRS (packages, suite, mirror, env, symlinks,
        timeout).
    """
    images = {}
    for cpu, info in CPUS.items():
        _debian_rootfs(name = "%s_%s" % (name, info.oci), architecture = info.oci, image_name = name, **kwargs)
        images[cpu] = "@%s_%s//image" % (name, info.oci)
    _debian_image_hub(name = name, images = images)
