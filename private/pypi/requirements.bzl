"""python_requirements: a hash-pinned requirements lock as libraries, with wheels for every
image's Python and CPU (and the host's for launch scripts and `_local`).

bzlmod users declare it with `sematic.requirements(...)` (//:extensions.bzl); WORKSPACE users
call `python_requirements(...)` then `install_deps()` from the generated `requirements.bzl`.
Declaring reads only the lock: nothing is downloaded or run until something is built.
"""

load("//private:paths.bzl", "display_label")
load(":lock.bzl", "files_label", "parse_lock", "read_files")
load(":lock_command.bzl", "lock_target")
load(":repositories.bzl", "declare_repositories", "sematic_requirements_hub", "write_hub")

REQUIREMENTS_ATTRS = {
    "extra_index_urls": attr.string_list(
        doc = "More PEP 503 simple indexes to take wheels from, e.g. " +
              "`https://download.pytorch.org/whl/cpu`.",
    ),
    "index_url": attr.string(
        doc = "PEP 503 simple index `bazel run @<name>//:lock` reads, e.g. a company mirror. " +
              "Default: `$PIP_INDEX_URL` when it runs, else `https://pypi.org/simple`. Fetching " +
              "reads no index: the wheels are downloaded by the URL and sha256 the files list " +
              "names, through Bazel's downloader (`--experimental_downloader_config` rewrites, " +
              "`.netrc` credentials, the repository cache).",
    ),
    "libc": attr.string(
        default = "glibc 2.28",
        doc = "The oldest C library of the images' bases, `glibc X.Y` or `musl X.Y`: wheels " +
              "needing a newer one are not taken (`manylinux_2_28` fits Debian >= buster, " +
              "Ubuntu >= 20.04, RHEL >= 8).",
    ),
    "python": attr.string(
        default = "python3",
        doc = "The host's interpreter (a path or a name on PATH): launch scripts and " +
              "`bazel run :x_local` get wheels for it; it also runs the resolution scripts.",
    ),
    "python_version": attr.string(
        mandatory = True,
        doc = "`major.minor` Python of the images these requirements are for, e.g. `3.11`. " +
              "Declare the same name again with another version (and its lock, or the same " +
              "universal lock) to serve several.",
    ),
    "requirements_lock": attr.label(
        mandatory = True,
        allow_single_file = True,
        doc = "Lock with every distribution pinned and hashed: `pip-compile --generate-hashes` " +
              "for one Python version, or `uv pip compile --universal --generate-hashes` (with " +
              "environment markers) for several, and for a host Python that differs. Beside " +
              "it, its files list (`requirements_lock.txt` -> `requirements_lock.files.json`), " +
              "written by `bazel run @<name>//:lock`, names every file by URL and sha256.",
    ),
    "timeout": attr.int(
        default = 600,
        doc = "Seconds each resolution step may take.",
    ),
}

SETTINGS = ["extra_index_urls", "index_url", "libc", "python", "timeout"]

def _check_version(hub, version):
    parts = version.split(".")
    if len(parts) != 2 or not (parts[0] + parts[1]).isdigit():
        fail("requirements %s: python_version %r is not major.minor: write it like \"3.11\"" % (hub, version))

def declare_hub(ctx, hub, locks, settings):
    """Declares a hub and its repositories (bzlmod: from the module extension).

    Args:
      ctx: module_ctx (reads the locks).
      hub: the hub's name.
      locks: dict of Python version -> lock Label.
      settings: dict of SETTINGS.
    """
    by_label = {}
    for version, label in sorted(locks.items()):
        _check_version(hub, version)
        by_label.setdefault(label, []).append(version)
    lock_structs = []
    problems = []
    for label, versions in by_label.items():
        pins, problem = parse_lock(ctx.read(label), display_label(label))
        files = read_files(ctx, label, display_label(files_label(label)), hub)
        lock_structs.append(struct(label = label, display = display_label(label), versions = versions, pins = pins, files = files))
        problems += [problem] if problem else []
    if problems:
        names = sorted({pin.name: True for lock in lock_structs for pin in lock.pins.values()})
        versions = sorted([v for lock in lock_structs for v in lock.versions])
    else:
        names, versions = declare_repositories(hub, lock_structs, settings)
    sematic_requirements_hub(
        name = hub,
        hub = hub,
        lock_label = lock_structs[0].display,
        lock_target = lock_target(hub, [(lock.label, lock.display, files_label(lock.label)) for lock in lock_structs], settings),
        names = names,
        versions = versions,
        problem = problems[0] if problems else "",
    )

_INSTALL_DEPS_LOAD = """
load("@rules_sematic//private/pypi:repositories.bzl", "declare_repositories")
"""

_INSTALL_DEPS = """
_LOCKS = json.decode({locks})

def install_deps():
    \"\"\"Declares the wheel and target repositories of @{hub} (WORKSPACE only).\"\"\"
    locks = [
        struct(
            label = Label(lock["label"]),
            display = lock["display"],
            versions = lock["versions"],
            pins = {{key: struct(**pin) for key, pin in lock["pins"].items()}},
            files = struct(**lock["files"]),
        )
        for lock in _LOCKS
    ]
    declare_repositories({hub_literal}, locks, json.decode({settings}))
"""

def _workspace_hub_impl(rctx):
    hub = rctx.attr.name
    locks = []
    for label, versions in rctx.attr.locks.items():
        for version in versions.split(","):
            _check_version(hub, version)
        pins, problem = parse_lock(rctx.read(rctx.path(label)), display_label(label))
        if problem:
            fail(problem)
        files = read_files(rctx, label, display_label(files_label(label)), hub)
        locks.append({
            "display": display_label(label),
            "files": {"display": files.display, "pins": files.pins, "problem": files.problem},
            "label": str(label),
            "pins": {key: {"hashes": p.hashes, "name": p.name, "version": p.version} for key, p in pins.items()},
            "versions": versions.split(","),
        })
    names = sorted({pin["name"]: True for lock in locks for pin in lock["pins"].values()})
    versions = sorted([version for lock in locks for version in lock["versions"]])
    settings = {key: getattr(rctx.attr, key) for key in SETTINGS}
    target = lock_target(hub, [(label, display_label(label), files_label(label)) for label in rctx.attr.locks], settings)
    write_hub(rctx, hub, names, versions, locks[0]["display"], target, loads = _INSTALL_DEPS_LOAD, more = _INSTALL_DEPS.format(
        hub = hub,
        hub_literal = repr(hub),
        locks = repr(json.encode(locks)),
        settings = repr(json.encode(settings)),
    ))

_workspace_hub = repository_rule(
    implementation = _workspace_hub_impl,
    doc = "WORKSPACE's `@<hub>`: requirement(), the aliases, and install_deps() for the rest.",
    attrs = dict(
        {key: REQUIREMENTS_ATTRS[key] for key in SETTINGS},
        locks = attr.label_keyed_string_dict(allow_files = True, doc = "Lock -> the Python versions it serves, comma-separated."),
    ),
)

def python_requirements(name, requirements_lock = None, python_version = None, requirements_locks = None, **kwargs):
    """WORKSPACE: `@<name>` with requirement(); then call `install_deps()` from its requirements.bzl.

        python_requirements(name = "pypi", requirements_lock = "//:requirements_lock.txt", python_version = "3.11")
        load("@pypi//:requirements.bzl", "install_deps")
        install_deps()

    Args:
      name: repository name.
      requirements_lock: the lock (see REQUIREMENTS_ATTRS), for `python_version`.
      python_version: `major.minor` Python of the images.
      requirements_locks: instead of the two above, dict of Python version -> lock, to serve
        several versions (the same universal lock may appear for each).
      **kwargs: python, index_url, extra_index_urls, libc, timeout (see REQUIREMENTS_ATTRS).
    """
    if requirements_locks == None:
        if not requirements_lock or not python_version:
            fail("python_requirements(%s): set requirements_lock and python_version, or requirements_locks = {version: lock}" % name)
        requirements_locks = {python_version: requirements_lock}
    elif requirements_lock or python_version:
        fail("python_requirements(%s): set requirements_locks, or requirements_lock with python_version, not both" % name)

    # One lock may serve several versions: attr.label_keyed_string_dict keys are the locks.
    by_lock = {}
    for version, lock in requirements_locks.items():
        by_lock[lock] = by_lock[lock] + "," + version if lock in by_lock else version
    _workspace_hub(name = name, locks = by_lock, **kwargs)
