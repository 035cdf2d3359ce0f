"""pytest fixtures for the registry-side tests. Every server a test starts is stopped at
teardown, pass or fail: registries by PID (tools/local-registry.sh stop), in-process token
servers and proxies by shutting their sockets."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from . import offline
from .containerd import COMMANDS as CONTAINERD_COMMANDS, Containerd
from .faultproxy import FaultProxy
from .hostile import HostileServer
from .registry import LocalRegistry
from .tokenserver import TokenServer
from .tools import tools_bin_dir

SUMMARY = re.compile(
    r"^(?P<program>sematic-\w+): summary: (?:key=(?P<key>\S+) )?uploaded=(?P<uploaded>\d+) "
    r"\((?P<bytes>\d+) bytes\) existed=(?P<existed>\d+) mounted=(?P<mounted>\d+) "
    r"streamed=(?P<streamed>\d+) manifest=(?P<manifest>pushed|existed) tags=(?P<tags>\S+)$",
    re.M,
)


def parse_summaries(stderr: str) -> list:
    """Every summary line, as dicts with int counts."""
    found = []
    for match in SUMMARY.finditer(stderr):
        entry = match.groupdict()
        for key in ("uploaded", "bytes", "existed", "mounted", "streamed"):
            entry[key] = int(entry[key])
        entry["tags"] = [] if entry["tags"] == "-" else entry["tags"].split(",")
        found.append(entry)
    return found


def parse_summary(stderr: str) -> dict:
    summaries = parse_summaries(stderr)
    assert len(summaries) == 1, stderr
    return summaries[0]


def assert_one_line_error(result, program: str, *needles: str) -> str:
    """The run failed with exactly one `PROGRAM: error: …` line containing every needle (a line
    of a Bazel build's output may carry a prefix)."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    errors = [l for l in result.stderr.splitlines() if f"{program}: error: " in l]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def skopeo_copy_back(host: str, reference: str, destination: Path, *extra) -> str:
    """Copies an image out of a plain-HTTP registry with skopeo into an OCI layout; returns
    the copied manifest digest (skopeo keeps manifests byte for byte)."""
    require("skopeo")
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", *extra,
                    f"docker://{host}/{reference}", f"oci:{destination}:copied"],
                   check=True, capture_output=True)
    index = json.loads((destination / "index.json").read_text())
    return index["manifests"][0]["digest"]


class Tools:
    def __init__(self, bin_dir: Path, home: Path):
        self.bin_dir = bin_dir
        self.home = home
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "SSL_CERT_FILE")}
        # A clean home: the machine's own docker/podman logins must not leak into tests.
        self.env["HOME"] = str(home)

    def path(self, name: str) -> Path:
        return self.bin_dir / name

    def run(self, name: str, *args, env=None, timeout=300, **kwargs) -> subprocess.CompletedProcess:
        merged = dict(self.env)
        merged.update(env or {})
        return subprocess.run([str(self.path(name)), *map(str, args)], capture_output=True,
                              text=True, env=merged, timeout=timeout, **kwargs)

    def push(self, layout, repository, *args, **kwargs):
        return self.run("sematic-push", "--layout", layout, "--repository", repository,
                        "--progress", "plain", *args, **kwargs)


@pytest.fixture(scope="session")
def tools_dir() -> Path:
    return tools_bin_dir()


@pytest.fixture
def tools(tools_dir, tmp_path) -> Tools:
    home = tmp_path / "home"
    home.mkdir()
    return Tools(tools_dir, home)


def _started_servers(create):
    """A fixture body: yields `make(*args, **options)`, which creates server number i with
    `create(i, *args, **options)` and starts it; stops every one at teardown, pass or fail."""
    started = []

    def make(*args, **options):
        server = create(len(started), *args, **options)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_registry(tmp_path):
    yield from _started_servers(lambda i, **options: LocalRegistry(tmp_path / f"registry-{i}", **options))


@pytest.fixture
def registry(make_registry) -> LocalRegistry:
    return make_registry()


@pytest.fixture
def make_token_server(tmp_path):
    yield from _started_servers(lambda i, **options: TokenServer(tmp_path / f"token-{i}", **options))


@pytest.fixture
def make_hostile():
    yield from _started_servers(lambda _, handler, **options: HostileServer(handler, **options))


@pytest.fixture
def make_proxy():
    yield from _started_servers(lambda _, upstream, **options: FaultProxy(upstream, **options))


def require(*commands):
    """Fails (never skips: a skipped suite would hide a missing install step in CI) unless
    every command is on PATH."""
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        pytest.fail(f"needs {', '.join(missing)}: run tools/bootstrap.sh (or apt-get install it)")


def _running(runtime: Containerd):
    require(*CONTAINERD_COMMANDS)
    if not Path("/dev/fuse").exists():
        pytest.skip("/dev/fuse is missing: the stargz snapshotter mounts layers with FUSE")
    try:
        yield runtime.start()
    finally:
        runtime.stop()
        assert runtime.mounts() == [], "mounts left behind"


@pytest.fixture
def containerd(tmp_path) -> Containerd:
    """A private containerd with the stargz snapshotter (harness/containerd.py), stopped by
    PID with every mount it made undone, whatever the test did."""
    yield from _running(Containerd(tmp_path / "containerd"))


@pytest.fixture
def busy_containerd(tmp_path) -> Containerd:
    """The same, collecting garbage after every change as a busy node's does: what a client
    leaves unreferenced for a moment is removed."""
    yield from _running(Containerd(tmp_path / "containerd", eager_gc=True))


@pytest.fixture(scope="session")
def python_rootfs() -> Path:
    """A Debian rootfs tarball with python3-minimal and dash, from the test caches."""
    return offline.python_rootfs()


@pytest.fixture(scope="session")
def runnable_layout(python_rootfs, tmp_path_factory) -> Path:
    """An OCI layout (single manifest, no ref-name juggling needed) of the python rootfs plus
    a small app layer, built with umoci."""
    require("umoci")
    work = tmp_path_factory.mktemp("runnable")
    layout = work / "layout"
    app = work / "app"
    (app / "app").mkdir(parents=True)
    (app / "app" / "hello.py").write_text("import sys\nprint('hello from the image', *sys.argv[1:])\n")

    def umoci(*args):
        subprocess.run(["umoci", *args], check=True, capture_output=True)

    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:base")
    umoci("raw", "add-layer", "--image", f"{layout}:base", "--tag", "py", str(python_rootfs))
    umoci("insert", "--image", f"{layout}:py", "--tag", "app", str(app / "app"), "/app")
    umoci("config", "--image", f"{layout}:app", "--tag", "run",
          "--config.entrypoint", "/usr/bin/python3", "--config.cmd", "/app/hello.py",
          "--config.env", "PATH=/usr/bin:/bin")
    # Keep only the runnable image in index.json: the tools take single-image layouts.
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "run"]
    index_path.write_text(json.dumps(index))
    return layout
