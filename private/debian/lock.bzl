"""A debian_image's package lock: where it lives and what the fetching repositories read of it."""

# The lock file layout private/debian/lock.py writes; a lock of another layout must be rewritten.
LOCK_FORMAT = 1

def lock_command(image):
    """The command that writes the lock of debian_image `image`."""
    return "bazel run @%s//:lock" % image

def lock_display(label):
    """How messages name the lock: `//pkg:file` in the main repository, else the full label."""
    if label.repo_name == "":
        return "//%s:%s" % (label.package, label.name)
    return str(label)

def lock_workspace_path(label):
    """The lock's path relative to the main repository's root, or "" for another repository's."""
    if label.repo_name != "":
        return ""
    return label.name if not label.package else label.package + "/" + label.name

def locked_packages(rctx, image, architecture, architectures):
    """The lock's packages for `architecture`, once the lock is known to match the attributes.

    Every failure is one line naming the lock and the command that rewrites it.

    Args:
      rctx: repository_ctx of a rule with `lock`, `mirror`, `packages` and `suite`.
      image: the debian_image's name.
      architecture: e.g. "amd64".
      architectures: every architecture the image is built for (the lock resolves them all).

    Returns:
      [{"name", "version", "architecture", "path", "size", "sha256"}], sorted by name.
    """
    command = lock_command(image)
    if not rctx.attr.lock:
        fail("debian_image(%s): no lock: set lock = \"//:%s.lock.json\" on the debian_image and run `%s` to write it" % (image, image, command))
    name = lock_display(rctx.attr.lock)
    if not rctx.path(rctx.attr.lock).exists:
        fail("debian_image(%s): lock %s does not exist: run `%s` to write it" % (image, name, command))

    # Read through the label: Bazel fetches the repository again when the lock changes.
    lock = json.decode(rctx.read(rctx.attr.lock), default = None)
    if type(lock) != "dict" or lock.get("format") != LOCK_FORMAT or type(lock.get("resolved")) != "dict":
        fail("debian_image(%s): %s is not a lock this version of rules_sematic reads: run `%s` to rewrite it" % (image, name, command))
    expected = {
        "architectures": sorted(architectures),
        "mirror": rctx.attr.mirror,
        "packages": sorted({package: None for package in rctx.attr.packages}.keys()),
        "suite": rctx.attr.suite,
    }
    differ = [key for key in sorted(expected) if lock.get(key) != expected[key]]
    if differ:
        fail("debian_image(%s): lock %s was made for other %s than the debian_image's: run `%s` to update it" % (image, name, " and ".join(differ), command))
    packages = lock["resolved"].get(architecture)
    if type(packages) != "list" or not packages:
        fail("debian_image(%s): lock %s has no packages for %s: run `%s` to rewrite it" % (image, name, architecture, command))
    return packages
