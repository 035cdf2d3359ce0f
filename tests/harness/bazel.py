"""Runs Bazel on this repository or on scratch workspaces, for the end-to-end suites."""

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Optional

from . import offline

REPO = Path(__file__).resolve().parents[2]

# Workspaces other than this checkout reach it as an outside module. Bazel 7's hermetic sandbox
# /tmp hides an outside module's sources when the checkout itself lives under /tmp (a CI clone
# may), so those workspaces read this rc file, which turns that sandbox feature off.
OUTSIDE_MODULE_RC = Path(__file__).resolve().parent / "outside_module.bazelrc"


def clean_env(extra: Optional[dict] = None, cached: bool = True) -> dict:
    """The environment for a Bazel client: ours, minus what would change what it builds, plus
    (`cached`) what makes it read the test caches instead of the network."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RULES_SEMATIC_PREBUILT_TOOLS", "SEMATIC_CONTAINER_IMAGE", "SEMATIC_CONTAINER_IMAGE_URIS")}
    if cached:
        env.update(offline.bazel_env())
    env.update(extra or {})
    return env


class Bazel:
    """One workspace (and optionally its own output base). Offline by default: the test caches
    and no host but loopback (tests/harness/offline.py); `offline_only=False` is for benchmarks that
    fetch what no cache holds."""

    def __init__(self, workspace: Path, output_base: Optional[Path] = None, offline_only: bool = True,
                 umask: Optional[int] = None):
        self.workspace = Path(workspace)
        # The client's umask is the server's (it starts it) and so every action's.
        self.umask = umask
        self.offline = offline_only
        self.startup = [f"--output_base={output_base}"] if output_base else []
        outside = [OUTSIDE_MODULE_RC] if self.workspace.resolve() != REPO else []
        if offline_only:
            self.startup.append(f"--bazelrc={offline.bazelrc(*outside)}")
        else:
            self.startup += [f"--bazelrc={rc}" for rc in outside]

    def run(self, *args, check: bool = True, env: Optional[dict] = None, timeout: int = 1800,
            startup=()) -> subprocess.CompletedProcess:
        command = ["bazel", *self.startup, *startup, *map(str, args)]
        umask = self.umask
        result = subprocess.run(command, cwd=self.workspace, capture_output=True, text=True,
                                env=clean_env(env, cached=self.offline), timeout=timeout,
                                preexec_fn=None if umask is None else lambda: os.umask(umask))
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}) in {self.workspace}:\n"
                                 f"{result.stderr[-6000:]}\n{result.stdout[-2000:]}")
        return result

    def output_files(self, target: str, *flags, env: Optional[dict] = None) -> list:
        """The files `target` builds, as absolute paths."""
        out = self.run("cquery", *flags, "--output=files", target, env=env).stdout
        return [self.workspace / line for line in out.split() if line]

    def image(self, target: str, *flags, env: Optional[dict] = None):
        """Builds an image target; returns (layout directory, digest string)."""
        self.run("build", *flags, target, env=env)
        files = self.output_files(target, *flags, env=env)
        layout = next(f for f in files if f.is_dir())
        digest = next(f for f in files if f.name.endswith(".digest")).read_text()
        return layout, digest

    def shutdown(self):
        """Stops the server; a scratch workspace's output base goes too (`clean --expunge`), since
        every scratch workspace has its own and a suite run would otherwise leave gigabytes.
        `clean --expunge` may leave the server process running without its output base, where
        no `bazel shutdown` finds it: it is stopped by PID."""
        if self.workspace.resolve() == REPO:
            self.run("shutdown", check=False, timeout=120)
            return
        info = self.run("info", "server_pid", check=False, timeout=300)
        try:
            self.run("clean", "--expunge", check=False, timeout=600)
        finally:
            self._stop_server(info)
            self._remove_cargo_target()

    def _remove_cargo_target(self) -> None:
        """A copy of this checkout compiled the tools into a cargo target directory of its own
        (private/tools_repo.bzl keys it by the tools' real path, with Java's String.hashCode,
        which Starlark's hash() is): nothing else would ever remove it."""
        tools = (self.workspace / "tools").resolve()
        if not (tools / "Cargo.toml").is_file():
            return
        code = 0
        for char in str(tools):
            code = (31 * code + ord(char)) & 0xFFFFFFFF
        home = Path(os.environ.get("RULES_SEMATIC_HOME") or Path.home() / ".cache" / "rules_sematic")
        target = home / "cargo-target" / f"{code:x}"
        shutil.rmtree(target, ignore_errors=True)
        target.with_name(target.name + ".lock").unlink(missing_ok=True)

    @staticmethod
    def _stop_server(info: subprocess.CompletedProcess) -> None:
        if info.returncode == 0 and info.stdout.strip().isdigit():
            try:
                os.kill(int(info.stdout.strip()), signal.SIGTERM)
            except ProcessLookupError:
                pass


def copy_workspace(destination: Path) -> Path:
    """A copy of this repository's tracked files (what a fresh clone has), plus uncommitted ones."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def copy_examples_lock(workspace: Path, name: str = "requirements_lock.txt") -> None:
    """The examples' lock and its files list, as `name` (and `<stem>.files.json`) in `workspace`."""
    examples = REPO / "examples"
    (Path(workspace) / name).write_text((examples / "requirements_lock.txt").read_text())
    files = name[: -len(".txt")] if name.endswith(".txt") else name
    (Path(workspace) / f"{files}.files.json").write_text((examples / "requirements_lock.files.json").read_text())


def consumer_module(name: str, extension_lines: str, repositories, python_toolchain: bool = True) -> str:
    """MODULE.bazel of a scratch workspace that uses this checkout of rules_sematic as an outside
    module: `extension_lines` use the `sematic` extension and bring in `repositories`.
    `python_toolchain` registers the examples' python3.13 toolchain (images that must run)."""
    used = "".join(f', "{repository}"' for repository in sorted(repositories))
    toolchain = 'register_toolchains("@rules_sematic//examples/python:toolchain")\n' if python_toolchain else ""
    return f"""\
module(name = "{name}")

bazel_dep(name = "rules_sematic")
local_path_override(module_name = "rules_sematic", path = "{REPO}")
bazel_dep(name = "rules_python", version = "0.22.1")

sematic = use_extension("@rules_sematic//:extensions.bzl", "sematic")
{extension_lines.strip()}
use_repo(sematic{used})

{toolchain}"""
