"""What a debian_image's root filesystem says about itself: merged-/usr links, Python, glibc."""

_MERGED_USR = ["bin", "lib", "lib32", "lib64", "libx32", "sbin"]

def merged_usr_symlinks(entries):
    """`/bin -> usr/bin` & co. where the packages only ship /usr (Debian >= trixie).

    Those links come from maintainer scripts, which are not run; without /lib64 the ELF loader
    of every binary is missing. Suites whose packages still ship /bin (bookworm) keep their real
    directories: a link over them would hide their content.

    Args:
      entries: {path: symlink target or None} of the root filesystem (no leading `/`).

    Returns:
      {"/bin": "usr/bin", ...} for the system layer.
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

def python_of(entries, symlinks):
    """(interpreter path, `major.minor`) of the root filesystem's Python 3, or (None, None).

    `/usr/bin/python3` when it exists (from the packages or `symlinks`) and points at a
    `python3.X` of the tree; else the only `/usr/bin/python3.X`.

    Args:
      entries: {path: symlink target or None} of the root filesystem.
      symlinks: the debian_image's `symlinks` attribute.

    Returns:
      A pair of strings, or of None.
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

def glibc_of(image, packages):
    """`glibc X.Y` from the libc6 entry of a lock's package list, or None without libc6.

    Args:
      image: the debian_image's name, for messages.
      packages: the lock's entries for one architecture.

    Returns:
      e.g. "glibc 2.36" for libc6 2.36-9+deb12u13.
    """
    for package in packages:
        if package["name"] == "libc6":
            upstream = package["version"].split(":")[-1].partition("-")[0].split(".")
            if len(upstream) < 2 or not upstream[0].isdigit() or not upstream[1].isdigit():
                fail("debian_image(%s): cannot read a glibc version from libc6 %s: set the base's libc with sematic_base_image(libc = ...)" % (image, package["version"]))
            return "glibc %s.%s" % (upstream[0], upstream[1])
    return None
