"""python_requirements: a hash-pinned requirements lock as libraries, with wheels for every
image's Python and CPU (and the host's for launch scripts and `_local`).

bzlmod users declare it with `sematic.requirements(...)` (//:extensions.bzl); WORKSPACE users
call `python_requirements(...)` then `install_deps()` from the generated `requirements.bzl`.
"""

load("//private:paths.bzl", "display_label")
load(":repositories.bzl", "write_hub")
load(":resolve.bzl", "index_urls_of", "resolve")

REQUIREMENTS_ATTRS = {
    "extra_index_urls": attr.string_list(
        doc = "More PEP 503 simple indexes to take wheels from, e.g. " +
              "`https://download.pytorch.org/whl/cpu`.",
    ),
    "index_url": attr.string(
        doc = "PEP 503 simple index, e.g. a company mirror. Default: `$PIP_INDEX_URL`, else " +
              "`https://pypi.org/simple`. Index pages and wheels go through Bazel's downloader " +
              "(`--experimental_downloader_config` rewrites, `.netrc` credentials).",
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
              "`bazel run :x_local` get wheels for it. It also unpacks wheels (any Python 3).",
    ),
    "python_version": attr.string(
        doc = "`major.minor` Python of the images these requirements are for, e.g. `3.11`. " +
              "Default: the host interpreter's. Declare the same name again with another " +
              "version (and its lock, or the same universal lock) to serve several.",
    ),
    "requirements_lock": attr.label(
        mandatory = True,
        allow_single_file = True,
        doc = "Lock with every distribution pinned and hashed: `pip-compile --generate-hashes` " +
              "for one Python version, or `uv pip compile --universal --generate-hashes` (with " +
              "environment markers) for several.",
    ),
    "timeout": attr.int(
        default = 600,
        doc = "Seconds each resolution step may take.",
    ),
}

def requirements_what(name):
    return "requirements %s" % name

def resolve_hub(ctx, name, locks, python, index_url, extra_index_urls, libc, timeout):
    """Resolves a hub's locks; returns (plan, label of the first lock, for messages).

    Args:
      ctx: module_ctx or repository_ctx.
      name: the hub's name.
      locks: dict of Python version ("" = the host's) -> lock Label.
      python: host interpreter.
      index_url: main index ("" = default).
      extra_index_urls: more indexes.
      libc: the images' oldest libc.
      timeout: seconds per step.
    """
    lock_paths = {version: (ctx.path(label), display_label(label)) for version, label in locks.items()}
    plan = resolve(
        ctx,
        requirements_what(name),
        python,
        lock_paths,
        index_urls_of(ctx, index_url, extra_index_urls),
        libc,
        timeout,
    )
    return plan, display_label(locks.values()[0])

_INSTALL_DEPS_LOAD = '''
load("@rules_sematic//private/pypi:repositories.bzl", "declare_targets")
'''

_INSTALL_DEPS = '''
_PLAN = json.decode({plan})

def install_deps():
    """Declares the wheel and target repositories of @{name} (WORKSPACE only)."""
    declare_targets({name_literal}, _PLAN, {python}, {lock_label})
'''

def _workspace_hub_impl(rctx):
    locks = {}
    for label, versions in rctx.attr.locks.items():
        for version in versions.split(","):
            locks[version] = label
    plan, lock_label = resolve_hub(rctx, rctx.attr.name, locks, rctx.attr.python, rctx.attr.index_url, rctx.attr.extra_index_urls, rctx.attr.libc, rctx.attr.timeout)
    names = sorted({n: True for t in plan["targets"].values() for n in t["distributions"].keys() + t["missing"].keys()})
    versions = sorted({t["python_version"]: True for k, t in plan["targets"].items() if k != "host"})
    write_hub(rctx, names, versions, lock_label, loads = _INSTALL_DEPS_LOAD, more = _INSTALL_DEPS.format(
        lock_label = repr(lock_label),
        name = rctx.attr.name,
        name_literal = repr(rctx.attr.name),
        plan = repr(json.encode(plan)),
        python = repr(rctx.attr.python),
    ))
    rctx.delete("_rules_sematic")

_workspace_hub = repository_rule(
    implementation = _workspace_hub_impl,
    attrs = dict(
        {k: v for k, v in REQUIREMENTS_ATTRS.items() if k not in ("python_version", "requirements_lock")},
        locks = attr.label_keyed_string_dict(allow_files = True, doc = "Lock -> Python version."),
        name_in_hub = attr.string(),
    ),
    environ = ["PIP_INDEX_URL"],
)

def python_requirements(name, requirements_lock = None, python_version = "", requirements_locks = None, **kwargs):
    """WORKSPACE: `@<name>` with requirement(); then call `install_deps()` from its requirements.bzl.

        python_requirements(name = "pypi", requirements_lock = "//:requirements_lock.txt", python_version = "3.11")
        load("@pypi//:requirements.bzl", "install_deps")
        install_deps()

    Args:
      name: repository name.
      requirements_lock: the lock (see REQUIREMENTS_ATTRS), for `python_version`.
      python_version: `major.minor` of the images ("" = the host interpreter's).
      requirements_locks: instead of the two above, dict of Python version -> lock, to serve
        several versions (the same universal lock may appear for each).
      **kwargs: python, index_url, extra_index_urls, libc, timeout (see REQUIREMENTS_ATTRS).
    """
    if (requirements_lock == None) == (requirements_locks == None):
        fail("python_requirements(%s): set requirements_lock (with python_version) or requirements_locks = {version: lock}" % name)
    locks = requirements_locks or {python_version: requirements_lock}

    # attr.label_keyed_string_dict keys are labels: one universal lock serving several
    # versions becomes one key with the versions joined.
    by_lock = {}
    for version, lock in locks.items():
        by_lock[lock] = by_lock[lock] + "," + version if lock in by_lock else version
    _workspace_hub(name = name, name_in_hub = name, locks = by_lock, **kwargs)
