"""The tools repository compiles byte-identical binaries from another checkout path, HOME,
CARGO_HOME and cargo target directory (tools/build.sh's path remapping).

One side is this checkout's tools repository, which `bazel test //...` already built; the other
is a full cold compile in a copy of the checkout. That is the slowest test of the suite (a few
minutes of cargo) and the only proof that a remote cache can share layer and image actions
between machines: the tools are inputs of every one of them.
"""

import hashlib
import os
import shutil
from pathlib import Path

from harness.bazel import REPO, Bazel, copy_workspace
from harness.tools import ALL_TOOLS as TOOLS

TOOLS_REPOSITORY = "@rules_sematic_tools"


def tool_digests(bazel: Bazel, env=None) -> dict:
    """sha256 of each binary of the workspace's tools repository (built or fetched first)."""
    bazel.run("build", f"{TOOLS_REPOSITORY}//:build_tools", f"{TOOLS_REPOSITORY}//:run_tools", env=env)
    output_base = Path(bazel.run("info", "output_base", env=env).stdout.strip())
    location = bazel.run("cquery", "--output=files", f"{TOOLS_REPOSITORY}//:{TOOLS[0]}", env=env).stdout.split()[0]
    directory = output_base / Path(location).parent
    return {tool: hashlib.sha256((directory / tool).read_bytes()).hexdigest() for tool in TOOLS}


def other_cargo_home(root: Path) -> Path:
    """A CARGO_HOME of its own: the crates.io downloads copied (no network needed), and cargo
    and rustc as the same rustup toolchain as the host's."""
    real = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    home = root / "cargo-home"
    for part in ("cache", "index"):
        shutil.copytree(real / "registry" / part, home / "registry" / part, symlinks=True)
    (home / "bin").mkdir(parents=True)
    for tool in ("cargo", "rustc"):
        (home / "bin" / tool).symlink_to(shutil.which(tool) or real / "bin" / tool)
    return home


def test_tools_are_byte_identical_from_another_checkout_and_home(tmp_path):
    expected = tool_digests(Bazel(REPO))

    clone = copy_workspace(tmp_path / "another" / "checkout")
    cargo_home = other_cargo_home(tmp_path)
    env = {
        "HOME": str(tmp_path / "home"),
        "CARGO_HOME": str(cargo_home),
        # The toolchain is what stays the same; only where it is found from changes.
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME") or str(Path.home() / ".rustup"),
        # A cargo target directory of its own: everything compiles from scratch.
        "RULES_SEMATIC_HOME": str(tmp_path / "rules-sematic-home"),
    }
    assert clone.resolve() != REPO and env["CARGO_HOME"] != os.environ.get("CARGO_HOME")
    bazel = Bazel(clone, output_base=tmp_path / "output_base")
    try:
        rebuilt = tool_digests(bazel, env)
    finally:
        bazel.shutdown()
    # One cargo target directory per checkout: the copy's, under its own RULES_SEMATIC_HOME.
    assert list((tmp_path / "rules-sematic-home" / "cargo-target").glob("*/release")), "the copy did not compile"
    differing = sorted(tool for tool in TOOLS if rebuilt[tool] != expected[tool])
    assert not differing, f"binaries differ between the two builds: {differing}"
