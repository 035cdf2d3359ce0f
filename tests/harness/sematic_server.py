"""The real Sematic API server for round trips: the test venv's sematic, which must be the
version the examples' images hold (their lock's), with SQLite and LocalStorage in a directory of
its own, scheduling its Kubernetes Jobs on the fake cluster. Sematic 0.41 has no switch for
Kubernetes: its server always schedules detached runs there, through the official client,
configured by KUBECONFIG, the namespace from KUBERNETES_NAMESPACE, and workers told where the
server is by SEMATIC_WORKER_API_ADDRESS (server settings, read from the environment). Started
as a process (sematic_serve.py), stopped by PID."""

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from .background import free_port
from .bazel import REPO

SERVE = Path(__file__).with_name("sematic_serve.py")
NAMESPACE = "sematic-jobs"
START_TIMEOUT = 180  # seconds: imports and migrations of a fresh database take ~10 s


def lock_version() -> str:
    """The sematic version of the examples' lock: what their images run."""
    text = (REPO / "examples" / "requirements_lock.txt").read_text()
    return re.search(r"^sematic==(\S+)", text, re.M).group(1)


class SematicServer:
    """One server on a free port of 127.0.0.1. `client_env` is what a launch script needs to
    submit to it: the client's address is `localhost`, the workers' `127.0.0.1`, so a Job's
    environment shows which one won (the server's SEMATIC_WORKER_API_ADDRESS must)."""

    def __init__(self, workdir: Path, kubeconfig: Path):
        self.workdir = Path(workdir)
        self.kubeconfig = kubeconfig
        self.port = 0
        self.log = self.workdir / "server.log"
        self._process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client_env(self) -> dict:
        """The environment of a Sematic client (a launch script) submitting here, with its own
        config directory (not ~/.sematic)."""
        return {"SEMATIC_API_ADDRESS": f"http://localhost:{self.port}",
                "SEMATIC_CONFIG_DIR": str(self.workdir / "client")}

    def start(self) -> "SematicServer":
        installed, wanted = importlib.metadata.version("sematic"), lock_version()
        if installed != wanted:
            raise RuntimeError(f"the test venv has sematic {installed}, the examples' images {wanted}: "
                               "pin tests/requirements.txt to the lock's version and run tools/bootstrap.sh")
        self.port = free_port()
        for directory in ("config", "client"):
            (self.workdir / directory).mkdir(parents=True, exist_ok=True)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("SEMATIC_") and name not in ("KUBECONFIG", "PORT")}
        env.update(SEMATIC_CONFIG_DIR=str(self.workdir / "config"), PORT=str(self.port),
                   KUBECONFIG=str(self.kubeconfig), KUBERNETES_NAMESPACE=NAMESPACE,
                   SEMATIC_WORKER_API_ADDRESS=self.url)
        with open(self.log, "wb") as log:
            self._process = subprocess.Popen([sys.executable, str(SERVE)], stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env, cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Sematic server did not start:\n{self.log_tail()}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it has not exited 5 s later: uvicorn's graceful shutdown
        waits for the socket.io connections workers and clients leave open."""
        if self._process is None or self._process.poll() is not None:
            return
        os.kill(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    # Reading the server's state, as its UI does.

    def api(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(self.url + "/api/v1" + path, method=method,
                                         data=b"{}" if method != "GET" else None,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def run(self, run_id: str) -> dict:
        return self.api(f"/runs/{run_id}")["content"]

    def runs(self, root_id: str) -> list:
        """Every run of the pipeline run."""
        return self.api(f"/runs/{root_id}/graph?root=1")["runs"]

    def resolution(self, root_id: str) -> dict:
        return self.api(f"/resolutions/{root_id}")["content"]

    def output(self, run_id: str):
        """A resolved run's output, read back by the sematic client (get_run_output: the
        graph, then the artifact's bytes from storage, deserialized)."""
        code = ("import json, sys; from sematic.api_client import get_run_output; "
                "print(json.dumps(get_run_output(sys.argv[1])))")
        result = subprocess.run([sys.executable, "-c", code, run_id], capture_output=True, text=True, timeout=120,
                                env={**os.environ, **self.client_env})
        if result.returncode != 0:
            raise AssertionError(f"reading the output of {run_id}: {result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def _answers(self) -> bool:
        try:
            return "server" in self.api("/meta/versions")
        except (OSError, urllib.error.URLError, ValueError):
            return False
