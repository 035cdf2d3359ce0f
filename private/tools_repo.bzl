"""Repository rules holding the rules_sematic Rust tools, without rules_rust.

`sematic_tools` holds the tools of the machine Bazel runs on (sematic-pull runs in repository
rules, the host's toolchains run the rest). It takes them, in this order, from:

1. `prebuilt_dir` / $RULES_SEMATIC_PREBUILT_TOOLS: binaries someone built;
2. the release's prebuilt archive for this platform (//private:prebuilt_tools.bzl), fetched
   with Bazel's downloader: `--experimental_downloader_config` mirrors, the repository cache
   and the sha256 apply;
3. `tools/build.sh` (`cargo build --release --locked` with the flags that make the binaries
   reproducible; the release runs the same script), re-run whenever a file under
   `tools/crates`, `tools/Cargo.toml` or `tools/Cargo.lock` changes: the development path.

Binaries from 1 and 2 must report this version of the rules (`--version`), or they are refused.
`sematic_prebuilt_tools` holds the release's archive of another platform, for toolchains whose
actions run elsewhere (remote executors). Each repository's `:build_tools` and `:run_tools`
targets are toolchain implementations (//private:toolchains_repo.bzl registers them).
"""

load(":prebuilt_tools.bzl", "PREBUILT_TOOLS")
load(":version.bzl", "VERSION")

TOOLS = [
    "sematic-image",
    "sematic-index",
    "sematic-launch",
    "sematic-layer",
    "sematic-load",
    "sematic-pull",
    "sematic-push",
    "sematic-tarball",
]

PREBUILT_ENV = "RULES_SEMATIC_PREBUILT_TOOLS"

_CPUS = {"aarch64": "aarch64", "amd64": "x86_64", "arm64": "aarch64", "x86_64": "x86_64"}

def host_platform(os):
    """The `<os>_<cpu>` key (as in PREBUILT_TOOLS) of the machine a repository rule runs on.

    Args:
      os: `rctx.os` or `mctx.os`.

    Returns:
      e.g. "linux_x86_64".
    """
    name = os.name.lower()
    system = "linux" if name.startswith("linux") else ("macos" if name.startswith("mac") else name.replace(" ", ""))
    return system + "_" + _CPUS.get(os.arch, os.arch)

def prebuilt_archives():
    """The prebuilt archives of this version of the rules: {platform: {"urls", "sha256"}}.

    Empty in a checkout, whose lock lists none or those of an older version.
    """
    if PREBUILT_TOOLS["version"] != VERSION:
        return {}
    return PREBUILT_TOOLS["archives"]

def _find_cargo(rctx):
    cargo = rctx.which("cargo")
    if cargo:
        return cargo
    home = rctx.os.environ.get("CARGO_HOME") or (rctx.os.environ.get("HOME", "/root") + "/.cargo")
    candidate = rctx.path(home + "/bin/cargo")
    if candidate.exists:
        return candidate
    fail("rules_sematic %s has no prebuilt tools for %s and cargo is not on PATH or in %s/bin: " % (VERSION, host_platform(rctx.os), home) +
         "install Rust (rustup), use a release of rules_sematic (its tools are prebuilt), or set prebuilt_dir " +
         "(sematic.tools(prebuilt_dir = ...) / rules_sematic_dependencies(prebuilt_tools_dir = ...)) " +
         "or $%s to a directory holding %s." % (PREBUILT_ENV, ", ".join(TOOLS)))

def _link_prebuilt(rctx, directory):
    for tool in TOOLS:
        binary = rctx.path(directory + "/" + tool)
        if not binary.exists:
            fail("rules_sematic: prebuilt tools directory %s has no %s: put the tools of rules_sematic %s there " % (directory, tool, VERSION) +
                 "(a release's sematic-tools archive, or `tools/build.sh` in its tools/)")
        rctx.symlink(binary, tool)

def _check_versions(rctx, origin, fix):
    """Fails unless every tool runs here and reports this version of the rules."""
    for tool in TOOLS:
        result = rctx.execute([rctx.path(tool), "--version"], timeout = 60, quiet = True)
        reported = result.stdout.strip()
        if result.return_code != 0:
            problem = (result.stderr.strip() or "exit %d" % result.return_code).splitlines()[0]
            fail("rules_sematic: %s/%s does not run on this machine (%s): %s" % (origin, tool, problem, fix))
        if reported != tool + " " + VERSION:
            fail("rules_sematic: %s/%s is version %r but these rules are %s: %s" %
                 (origin, tool, reported.removeprefix(tool + " "), VERSION, fix))

def _download(rctx, platform, archive):
    rctx.report_progress("Downloading the prebuilt tools of rules_sematic %s for %s" % (VERSION, platform))
    rctx.download_and_extract(url = archive["urls"], sha256 = archive["sha256"], type = "tar.gz")

def _cargo_build(rctx):
    # The checkout's real path, not this output base's symlink to it: cargo keys its build
    # cache by path, and every output base (each test workspace, a clean clone) would
    # otherwise rebuild the tools from scratch.
    manifest = rctx.path(rctx.attr.cargo_toml).realpath
    workspace = manifest.dirname
    rctx.watch(rctx.attr.cargo_lock)
    rctx.watch_tree(workspace.get_child("crates"))

    # cargo's target directory lives outside the repository (which Bazel wipes on every re-run)
    # and is shared by every output base of this checkout: crates.io dependencies compile once
    # and rebuilds are incremental. One per checkout: a binary cargo finds fresh is not copied
    # into target/release again, so two checkouts sharing one would hand each other their
    # binaries.
    cache = rctx.os.environ.get("RULES_SEMATIC_HOME") or (rctx.os.environ.get("HOME", "/root") + "/.cache/rules_sematic")
    target_dir = "%s/cargo-target/%x" % (cache, hash(str(workspace)) & 0xffffffff)
    cargo = _find_cargo(rctx)
    rctx.report_progress("cargo build --release --locked (rules_sematic tools)")

    # One lock around the build and the copy: output bases of this checkout building at the
    # same moment (the tests run several) share the target directory.
    rctx.execute(["mkdir", "-p", target_dir])
    result = rctx.execute(
        ["flock", target_dir + ".lock", "bash", rctx.path(rctx.attr.build_script), cargo, target_dir, "."] + TOOLS,
        timeout = 3600,
        quiet = True,
    )
    if result.return_code != 0:
        fail("rules_sematic: `cargo build --release --locked` in %s failed (exit %d):\n%s" %
             (workspace, result.return_code, result.stderr[-4000:]))

def _write_build(rctx):
    rctx.file("BUILD.bazel", """\
load("{toolchains}", "sematic_build_toolchain", "sematic_run_toolchain")

package(default_visibility = ["//visibility:public"])

exports_files({tools})

sematic_build_toolchain(
    name = "build_tools",
    image = "sematic-image",
    index = "sematic-index",
    layer = "sematic-layer",
    tarball = "sematic-tarball",
)

sematic_run_toolchain(
    name = "run_tools",
    launch = "sematic-launch",
    loader = "sematic-load",
    push = "sematic-push",
)
""".format(tools = repr(TOOLS), toolchains = str(Label("//private:toolchains.bzl"))))

def _sematic_tools_impl(rctx):
    platform = host_platform(rctx.os)
    prebuilt_dir = rctx.attr.prebuilt_dir or rctx.os.environ.get(PREBUILT_ENV, "")
    archive = prebuilt_archives().get(platform)
    if prebuilt_dir:
        _link_prebuilt(rctx, prebuilt_dir)
        _check_versions(rctx, prebuilt_dir, "put the tools of rules_sematic %s there, or unset prebuilt_dir and $%s" % (VERSION, PREBUILT_ENV))
    elif archive:
        _download(rctx, platform, archive)
        _check_versions(rctx, "the prebuilt tools of rules_sematic %s for %s" % (VERSION, platform), (
            "they need glibc >= %s; elsewhere set prebuilt_dir to tools built on the machine with tools/build.sh" % archive["glibc"]
        ))
    else:
        _cargo_build(rctx)
    _write_build(rctx)

sematic_tools = repository_rule(
    implementation = _sematic_tools_impl,
    doc = "The rules_sematic tools of this machine: prebuilt_dir, else the release's prebuilt archive, " +
          "else built with cargo. Each is the label `@<name>//:<tool>`, and `@<name>//:build_tools` / " +
          "`@<name>//:run_tools` are their toolchain implementations.",
    attrs = {
        "build_script": attr.label(
            default = Label("//tools:build.sh"),
            doc = "The script compiling the tools (shared with the release).",
        ),
        "cargo_lock": attr.label(
            default = Label("//tools:Cargo.lock"),
            doc = "The cargo lock file; builds use --locked.",
        ),
        "cargo_toml": attr.label(
            default = Label("//tools:Cargo.toml"),
            doc = "The cargo workspace manifest of the tools.",
        ),
        "prebuilt_dir": attr.string(
            doc = "Absolute path of a directory holding prebuilt binaries named " + ", ".join(TOOLS) +
                  ", of this version of the rules. When set (or when $" + PREBUILT_ENV + " is set), nothing " +
                  "is downloaded or compiled.",
        ),
    },
    environ = ["CARGO_HOME", "HOME", "PATH", "RULES_SEMATIC_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", PREBUILT_ENV],
)

def _sematic_prebuilt_tools_impl(rctx):
    archive = prebuilt_archives().get(rctx.attr.platform)
    if not archive:
        fail("rules_sematic %s has no prebuilt tools for %s: register a toolchain with your own binaries (README, Toolchains)" % (VERSION, rctx.attr.platform))
    _download(rctx, rctx.attr.platform, archive)
    _write_build(rctx)

sematic_prebuilt_tools = repository_rule(
    implementation = _sematic_prebuilt_tools_impl,
    doc = "The release's prebuilt rules_sematic tools for one platform, which need not be this machine's.",
    attrs = {
        "platform": attr.string(mandatory = True, doc = "`<os>_<cpu>`, a key of the release's prebuilt archives."),
    },
)
