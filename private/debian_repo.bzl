"""debian_image: a small base image built from Debian packages with mmdebstrap, offline-friendly.

mmdebstrap's `extract` variant unpacks the packages (and their dependencies) without running
maintainer scripts: a python3 root filesystem in seconds. The rootfs tarball is normalised by
sematic-layer, so the image digest depends only on the packages' content: the same mirror
snapshot gives the same digest on every machine.
"""

_IMAGE_BUILD = """\
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
    rootfs = "rootfs.tar",
    visibility = ["//visibility:public"],
)
"""

_MERGED_USR = ["bin", "lib", "lib32", "lib64", "libx32", "sbin"]

def _merged_usr_symlinks(rctx):
    """`/bin -> usr/bin` & co. where the packages only ship /usr (Debian >= trixie).

    Those links come from maintainer scripts, which the extract variant does not run; without
    /lib64 the ELF loader of every binary is missing. Suites whose packages still ship /bin
    (bookworm) keep their real directories: a link over them would hide their content.
    """
    listing = rctx.execute(["tar", "-tf", rctx.path("image/rootfs.tar")], timeout = 300)
    if listing.return_code != 0:
        fail("debian_image(%s): cannot list rootfs.tar: %s" % (rctx.name, listing.stderr))
    top = {}
    for entry in listing.stdout.splitlines():
        parts = entry.removeprefix("./").split("/")
        top["/".join(parts[:2])] = True
        top[parts[0]] = True
    return {
        "/" + name: "usr/" + name
        for name in _MERGED_USR
        if name not in top and ("usr/" + name) in top
    }

def _debian_image_impl(rctx):
    mmdebstrap = rctx.which("mmdebstrap")
    if not mmdebstrap:
        fail("debian_image(%s): mmdebstrap not found: apt-get install mmdebstrap (tools/bootstrap.sh installs it)" % rctx.name)
    if not rctx.attr.packages:
        fail("debian_image(%s): packages is empty: list what the image needs, e.g. [\"python3.13\"]" % rctx.name)
    rctx.file("image/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    rctx.file("image/group", "root:x:0:\nnogroup:x:65534:\n")
    rctx.report_progress("mmdebstrap %s: %s" % (rctx.attr.suite, ", ".join(rctx.attr.packages)))
    result = rctx.execute(
        [
            mmdebstrap,
            "--quiet",
            "--variant=extract",
            "--include=" + ",".join(rctx.attr.packages),
            # Snapshot mirrors serve Release files past their Valid-Until date.
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            rctx.attr.suite,
            rctx.path("image/rootfs.tar"),
            rctx.attr.mirror,
        ],
        environment = {"SOURCE_DATE_EPOCH": "0"},
        timeout = rctx.attr.timeout,
        quiet = True,
    )
    if result.return_code != 0:
        fail("debian_image(%s): mmdebstrap failed (exit %d): %s" % (rctx.name, result.return_code, result.stderr[-3000:]))
    symlinks = _merged_usr_symlinks(rctx)
    symlinks.update(rctx.attr.symlinks)
    rctx.file("image/BUILD.bazel", _IMAGE_BUILD.format(
        env = repr(rctx.attr.env),
        symlinks = repr(symlinks),
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
        mandatory = True,
        doc = "Packages to unpack, with their dependencies.",
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

debian_image = repository_rule(
    implementation = _debian_image_impl,
    doc = "A base image `@<name>//image` made of Debian packages (mmdebstrap, extract variant).",
    attrs = DEBIAN_IMAGE_ATTRS,
)
