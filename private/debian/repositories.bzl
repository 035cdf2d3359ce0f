"""debian_image: a small base image made of Debian packages pinned by a lock, for every image
platform, fetched through Bazel's downloader (no apt).

`debian_image(name = "x", lock = "//:x.lock.json", ...)` declares:

- `@x_amd64`, `@x_arm64`: one root filesystem each, made only when an image for that CPU needs
  it. Every .deb of the lock is downloaded by sha256 with Bazel's downloader (so the repository
  cache, `--distdir` and `--experimental_downloader_config` apply) and unpacked into one tar
  without apt, dpkg or maintainer scripts (private/debian/extract.py), as mmdebstrap's extract
  variant does. The tar is normalised by sematic-layer, so the image digest depends only on
  the locked packages.
- `@x//image`, which picks the one matching the platform the image is built for, and
  `@x//:lock`, whose `bazel run` resolves the packages' closure against the signed archive and
  writes the lock (private/debian/lock.py).

The Python interpreter the packages install is found in the root filesystem and becomes the
base's declared Python; libc6's locked version becomes its declared glibc.
"""

load("//private:platforms.bzl", "CPUS")
load(":lock.bzl", "lock_display", "lock_workspace_path", "locked_packages")
load(":rootfs.bzl", "glibc_of", "merged_usr_symlinks", "python_of")

_ARCH_BUILD = """\
load("@rules_sematic//private:base.bzl", "sematic_base_image")
load("@rules_sematic//private:layer.bzl", "sematic_layer")

exports_files(["rootfs.tar"])

# `image`, and `image_estargz` for images pulled lazily (every layer of theirs must be eStargz).
[
    (
        # What unpacking leaves out because maintainer scripts would have created it.
        sematic_layer(
            name = "system" + suffix,
            compression = compression,
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
        ),
        sematic_base_image(
            name = "image" + suffix,
            compression = compression,
            env = {env},
            layers = [":system" + suffix],
            libc = {libc},
            python_interpreter = {interpreter},
            python_version = {version},
            rootfs = "rootfs.tar",
            visibility = ["//visibility:public"],
        ),
    )
    for suffix, compression in [("", "gzip"), ("_estargz", "estargz")]
]
"""

_HUB_IMAGE_BUILD = """\
[
    alias(
        name = target,
        actual = select(
            {{cpu: image + ":" + target for cpu, image in {choices}.items()}},
            no_match_error = "debian_image {name} is built for {cpus} CPUs only",
        ),
        visibility = ["//visibility:public"],
    )
    for target in ["image", "image_estargz"]
]
"""

_HUB_BUILD = """\
load("@rules_sematic//private/debian:lock_command.bzl", "debian_lock")

debian_lock(
    name = "lock",
    architectures = {architectures},
    has_lock = {has_lock},
    image = {name},
    keyring = {keyring},
    lock_label = {lock_label},
    lock_path = {lock_path},
    mirror = {mirror},
    packages = {packages},
    suite = {suite},
)
"""

def _unpack(rctx, packages):
    """Downloads the locked packages and unpacks them into image/rootfs.tar; returns its listing."""
    python = rctx.which("python3")
    if not python:
        fail("debian_image(%s): python3 not found on PATH: install it (apt-get install python3); it unpacks the packages" % rctx.attr.image_name)
    mirror = rctx.attr.mirror.rstrip("/")
    rctx.report_progress("downloading %d packages of %s %s" % (len(packages), rctx.attr.suite, rctx.attr.architecture))

    # All at once: Bazel's downloader runs them in parallel (or takes them from the repository cache).
    pending = [
        rctx.download(
            url = mirror + "/" + package["path"],
            output = "debs/" + package["path"].rpartition("/")[2],
            sha256 = package["sha256"],
            block = False,
        )
        for package in packages
    ]
    for download in pending:
        download.wait()
    rctx.report_progress("unpacking %d packages of %s %s" % (len(packages), rctx.attr.suite, rctx.attr.architecture))
    result = rctx.execute(
        [python, rctx.path(Label("//private/debian:extract.py")), "--output", "image/rootfs.tar", "--listing", "listing.json", "--name", rctx.attr.image_name] +
        ["debs/" + package["path"].rpartition("/")[2] for package in packages],
        timeout = rctx.attr.timeout,
    )
    if result.return_code != 0:
        fail((result.stderr or result.stdout).strip())
    rctx.delete("debs")
    listing = json.decode(rctx.read("listing.json"))
    rctx.delete("listing.json")
    return listing

def _debian_rootfs_impl(rctx):
    # Checked here, when the image is built, not when it is declared: a module extension that
    # failed would fail every build of the workspace.
    if not rctx.attr.packages:
        fail("debian_image(%s): packages is empty: list what the image needs, e.g. [\"python3\"]" % rctx.attr.image_name)
    packages = locked_packages(rctx, rctx.attr.image_name, rctx.attr.architecture, [info.oci for info in CPUS.values()])
    rctx.file("image/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    rctx.file("image/group", "root:x:0:\nnogroup:x:65534:\n")
    entries = _unpack(rctx, packages)
    symlinks = merged_usr_symlinks(entries)
    symlinks.update(rctx.attr.symlinks)
    interpreter, version = python_of(entries, rctx.attr.symlinks)
    rctx.file("image/BUILD.bazel", _ARCH_BUILD.format(
        env = repr(rctx.attr.env),
        interpreter = repr(interpreter),
        libc = repr(glibc_of(rctx.attr.image_name, packages)),
        symlinks = repr(symlinks),
        version = repr(version),
    ))
    rctx.file("BUILD.bazel", "")

# The attributes of one debian_image, shared by the bzlmod tag and the WORKSPACE macro.
DEBIAN_IMAGE_ATTRS = {
    "env": attr.string_dict(
        default = {
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        },
        doc = "Image environment.",
    ),
    "keyring": attr.string(
        default = "/usr/share/keyrings/debian-archive-keyring.gpg",
        doc = "OpenPGP keyring (absolute, or relative to the workspace root) that `bazel run " +
              "@<name>//:lock` verifies the archive's InRelease or Release.gpg with, using gpgv.",
    ),
    "lock": attr.label(
        allow_single_file = [".json"],
        doc = "The package lock, e.g. `//:<name>.lock.json`: every package of the closure of " +
              "`packages` for amd64 and arm64, with version, pool path, size and sha256. " +
              "`bazel run @<name>//:lock` writes it (`-- --check` only compares); building " +
              "fails, naming that command, while it is missing or was made from other " +
              "`suite`, `mirror` or `packages`.",
    ),
    "mirror": attr.string(
        default = "http://deb.debian.org/debian",
        doc = "Debian archive URL the packages are downloaded from (through Bazel's downloader: " +
              "`--experimental_downloader_config` can rewrite it). The lock command reads the " +
              "archive there too, unless `$RULES_SEMATIC_DEBIAN_MIRROR` names another copy.",
    ),
    "packages": attr.string_list(
        doc = "Packages to unpack, with their Depends and Pre-Depends (at least one).",
    ),
    "suite": attr.string(
        default = "bookworm",
        doc = "Debian suite, e.g. bookworm or sid; its `main` component is read.",
    ),
    "symlinks": attr.string_dict(
        doc = "Image path -> target, e.g. {\"/usr/bin/python3\": \"python3.13\"} when the " +
              "distribution's python3 package is not the version you want.",
    ),
    "timeout": attr.int(
        default = 900,
        doc = "Seconds unpacking the packages into a root filesystem may take.",
    ),
}

# What only the lock command reads: changing it must not fetch the root filesystems again.
_LOCK_ONLY_ATTRS = ["keyring"]

_debian_rootfs = repository_rule(
    implementation = _debian_rootfs_impl,
    doc = "One architecture of a debian_image: its root filesystem and `//image`.",
    attrs = dict(
        {key: value for key, value in DEBIAN_IMAGE_ATTRS.items() if key not in _LOCK_ONLY_ATTRS},
        architecture = attr.string(mandatory = True),
        image_name = attr.string(mandatory = True),
    ),
)

def _debian_image_hub_impl(rctx):
    rctx.file("image/BUILD.bazel", _HUB_IMAGE_BUILD.format(
        choices = repr({"@platforms//cpu:" + cpu: label for cpu, label in rctx.attr.images.items()}),
        cpus = " and ".join(sorted(rctx.attr.images)),
        name = rctx.attr.image_name,
    ))
    lock = rctx.attr.lock
    rctx.file("BUILD.bazel", _HUB_BUILD.format(
        architectures = repr(sorted([info.oci for info in CPUS.values()])),
        has_lock = repr(lock != None),
        keyring = repr(rctx.attr.keyring),
        lock_label = repr(lock_display(lock) if lock else ""),
        lock_path = repr(lock_workspace_path(lock) if lock else ""),
        mirror = repr(rctx.attr.mirror),
        name = repr(rctx.attr.image_name),
        packages = repr(rctx.attr.packages),
        suite = repr(rctx.attr.suite),
    ))

_debian_image_hub = repository_rule(
    implementation = _debian_image_hub_impl,
    doc = "`@<name>//image` (the image of the target platform's CPU) and `@<name>//:lock`.",
    attrs = {
        "image_name": attr.string(mandatory = True),
        "images": attr.string_dict(doc = "@platforms CPU -> the image for it."),
        "keyring": DEBIAN_IMAGE_ATTRS["keyring"],
        # Only named, never read: the lock command must run while the lock does not exist yet.
        "lock": attr.label(),
        "mirror": DEBIAN_IMAGE_ATTRS["mirror"],
        "packages": DEBIAN_IMAGE_ATTRS["packages"],
        "suite": DEBIAN_IMAGE_ATTRS["suite"],
    },
)

def debian_image(name, **kwargs):
    """A base image `@<name>//image` made of Debian packages pinned by a lock, for every image platform.

    Each platform's root filesystem (`@<name>_amd64`, `@<name>_arm64`) is made from the .deb
    files the lock lists, downloaded by sha256 through Bazel's downloader and unpacked without
    apt or maintainer scripts: offline from the repository cache, through a mirror set with
    `--experimental_downloader_config`, and the same digest until the lock changes.
    `bazel run @<name>//:lock` resolves `packages` against the suite's signed archive (verified
    with gpgv) and writes the lock; `-- --check` exits 1 when it is out of date.

    Args:
      name: repository name.
      **kwargs: the attributes in DEBIAN_IMAGE_ATTRS (packages, lock, suite, mirror, keyring,
        env, symlinks, timeout).
    """
    lock_inputs = {key: kwargs.pop(key) for key in _LOCK_ONLY_ATTRS if key in kwargs}
    images = {}
    for cpu, info in CPUS.items():
        _debian_rootfs(name = "%s_%s" % (name, info.oci), architecture = info.oci, image_name = name, **kwargs)
        images[cpu] = "@%s_%s//image" % (name, info.oci)
    hub = {key: kwargs[key] for key in ("lock", "mirror", "packages", "suite") if key in kwargs}
    _debian_image_hub(name = name, image_name = name, images = images, **(hub | lock_inputs))
