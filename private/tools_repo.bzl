"""Repository rule holding the rules_sematic Rust tools and their toolchains, without rules_rust.

It runs `tools/build.sh` (`cargo build --release --locked` with the flags that make the
binaries reproducible; the release runs the same script) on the `tools/` workspace and re-runs
whenever a file under `tools/crates`, `tools/Cargo.toml` or `tools/Cargo.lock` changes.
Machines without cargo point it at prebuilt binaries instead. Its `:build_tools` and
`:run_tools` targets are the toolchain implementations //tools/toolchains registers.
"""

TOOLS = [
    "sematic-image",
    "sematic-index",
    "sematic-launch",
    "sematic-layer",
    "sematic-pull",
    "sematic-push",
    "sematic-tarball",
]

PREBUILT_ENV = "RULES_SEMATIC_PREBUILT_TOOLS"

def _find_cargo(rctx):
    cargo = rctx.which("cargo")
    if cargo:
        return cargo
    home = rctx.os.environ.get("CARGO_HOME") or (rctx.os.environ.get("HOME", "/root") + "/.cargo")
    candidate = rctx.path(home + "/bin/cargo")
    if candidate.exists:
        return candidate
    fail("rules_sematic: cargo not found on PATH or in %s/bin. Install Rust (rustup), or set " % home +
         "prebuilt_dir (sematic.tools(prebuilt_dir = ...) / rules_sematic_dependencies(prebuilt_tools_dir = ...)) " +
         "or $%s to a directory holding %s." % (PREBUILT_ENV, ", ".join(TOOLS)))

def _link_prebuilt(rctx, directory):
    for tool in TOOLS:
        binary = rctx.path(directory + "/" + tool)
        if not binary.exists:
            fail("rules_sematic: prebuilt tools directory %s has no %s: build it with " % (directory, tool) +
                 "`cargo build --release --locked` in rules_sematic's tools/ and copy target/release/* there.")
        rctx.symlink(binary, tool)

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

def _sematic_tools_impl(rctx):
    prebuilt = rctx.attr.prebuilt_dir or rctx.os.environ.get(PREBUILT_ENV, "")
    if prebuilt:
        _link_prebuilt(rctx, prebuilt)
    else:
        _cargo_build(rctx)
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
    push = "sematic-push",
)
""".format(tools = repr(TOOLS), toolchains = str(Label("//private:toolchains.bzl"))))

sematic_tools = repository_rule(
    implementation = _sematic_tools_impl,
    doc = "Builds (or links prebuilt) rules_sematic Rust tools; each is the label `@<name>//:<tool>`, " +
          "and `@<name>//:build_tools` / `@<name>//:run_tools` are their toolchain implementations.",
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
                  ". When set (or when $" + PREBUILT_ENV + " is set), cargo is not run.",
        ),
    },
    environ = ["CARGO_HOME", "HOME", "PATH", "RULES_SEMATIC_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", PREBUILT_ENV],
)
