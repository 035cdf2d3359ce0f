"""Reading the pins of a hash-pinned requirements lock in Starlark: enough to name the
repositories of a requirements hub without running anything or touching the network.
Everything else (markers, validation) is the Python side's, when a target is fetched."""

def normalize(name):
    """PEP 503 normalisation with `_` (a valid target name): `Flask-Cors` -> `flask_cors`.

    Args:
      name: a distribution name.

    Returns:
      The normalised name.
    """
    result = name.lower().replace("-", "_").replace(".", "_")
    for _ in range(len(result)):
        if "__" not in result:
            break
        result = result.replace("__", "_")
    return result

def _logical_lines(text):
    """targets.py's logical_lines: tests/pypi/tricky_lock.bzl is fed to both."""
    lines = []
    pending = ""
    for raw in text.splitlines():
        # A tab separates words and starts comments as a space does (Starlark has no \s).
        raw = raw.replace("\t", " ")
        line = "" if raw.lstrip().startswith("#") else raw.split(" #")[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines

def pin_key(name, version):
    """The repository name part of a pin.

    Args:
      name: normalised distribution name.
      version: pinned version.

    Returns:
      e.g. `sematic_0_41_0`.
    """
    key = name + "_" + version
    for character in ".+!-".elems():
        key = key.replace(character, "_")
    return key

def parse_lock(text, label):
    """The pins of a lock.

    Args:
      text: the lock's content.
      label: the lock, for messages.

    Returns:
      (dict of pin key -> struct(name, version, hashes), the first problem found or None).
      Two pins of one name (with markers for different Pythons) are two entries. A problem
      does not fail here: the hub fails with it when used, so other repositories still work.
    """
    pins = {}
    problem = None
    for line in _logical_lines(text):
        if line.startswith("-"):
            continue  # pip options: the repository's index_url decides
        words = [w for w in line.split(" ") if w]
        spec = words[0].split(";")[0]
        if "==" not in spec:
            problem = problem or "%s: %r is not pinned with ==: the lock must pin every distribution (pip-compile, uv pip compile)" % (label, spec)
            continue
        name, version = spec.split("==", 1)
        name = normalize(name.split("[")[0])
        version = version.lstrip("=")
        hashes = [w[len("--hash=sha256:"):] for w in words if w.startswith("--hash=sha256:")]
        if not hashes:
            problem = problem or "%s: %s==%s has no --hash=sha256: generate the lock with hashes (pip-compile --generate-hashes, uv pip compile --generate-hashes)" % (label, name, version)
        key = pin_key(name, version)
        if key in pins:
            hashes = pins[key].hashes + [h for h in hashes if h not in pins[key].hashes]
        pins[key] = struct(name = name, version = version, hashes = hashes)
    if not pins:
        problem = problem or "%s pins no distribution" % label
    return pins, problem

def files_label(lock):
    """The label of a lock's files list: `requirements_lock.files.json` beside `requirements_lock.txt`.

    Args:
      lock: the lock's Label.

    Returns:
      A Label in the lock's package.
    """
    stem = lock.name[:-len(".txt")] if lock.name.endswith(".txt") else lock.name
    return lock.same_package_label(stem + ".files.json")

def read_files(ctx, lock, display, hub):
    """A lock's files list, read by a module extension or repository rule.

    Args:
      ctx: module_ctx or repository_ctx.
      lock: the lock's Label.
      display: how its files list is named in messages.
      hub: the hub's name, for the command that writes it.

    Returns:
      struct(display, pins: dict of `name==version` -> list of {url, sha256, requires_python?},
      problem: why every pin fails (no or a malformed files list), or ""). A missing list is
      not an error here: only fetching a wheel fails, so `bazel run @<hub>//:lock` still works.
    """
    path = ctx.path(files_label(lock))
    command = "bazel run @%s//:lock" % hub
    if not path.exists:
        # Declared again when it appears.
        ctx.watch(path)
        return struct(display = display, pins = {}, problem = "%s does not exist: run `%s` to write it (it names every file of the lock by URL and sha256; fetching reads only it)" % (display, command))
    text = ctx.read(path)
    decoded = json.decode(text, default = None) if text.startswith("{") else None
    if type(decoded) != "dict" or type(decoded.get("files")) != "dict":
        return struct(display = display, pins = {}, problem = "%s is not a files list: run `%s` to rewrite it" % (display, command))
    return struct(display = display, pins = decoded["files"], problem = "")
