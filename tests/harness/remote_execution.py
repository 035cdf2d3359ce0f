"""BuildGrid remote execution on loopback: a private PostgreSQL cluster (BuildGrid's scheduler
refuses anything else), the BuildGrid server (PyPI's 0.9.1 in $RULES_SEMATIC_HOME/buildgrid-venv,
installed by tools/bootstrap.sh) with its CAS on disk, and tests/harness/reapi_bot.py as its
worker. Every process is a child of this class, stopped by PID in `stop()`.

PostgreSQL refuses to run as root: its data directory belongs to the `postgres` user, in a
fresh directory of /tmp (pytest's temporary directories are private to root).
"""

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from .background import free_port
from .tools import HOME

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
VENV = HOME / "buildgrid-venv"
BOT = Path(__file__).resolve().parent / "reapi_bot.py"

SERVER_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: {database}
    pool-size: 5
    pool-timeout: 30
    max-overflow: 10
storages:
  - !disk-storage &cas
    path: {root}/cas
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 10000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    action-cache: *ac
    storage: *cas
    property-set: !dynamic-property-set
      match-property-keys: [OSFamily, ISA]
    bot-session-keepalive-timeout: 60
    max-execution-timeout: 900
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
# Bazel uploads inputs and waits on executions in parallel (up to 100 connections): RPCs
# beyond the pool queue instead of being refused (RESOURCE_EXHAUSTED, the default when the
# limit equals the pool).
thread-pool-size: 64
maximum-concurrent-rpcs: 10000
"""


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start ({process.returncode}): {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {seconds:.0f} s")


class BuildGrid:
    """`url` is the `--remote_executor` value once `start()` returned."""

    def __init__(self, concurrency: int = 2):
        self.concurrency = concurrency
        self.root: Optional[Path] = None
        self.port = 0
        self._processes = []  # (name, Popen), stopped in reverse order

    def start(self) -> "BuildGrid":
        if not (VENV / "bin" / "bgd").exists():
            raise RuntimeError(f"BuildGrid is missing ({VENV}): run tools/bootstrap.sh")
        self.root = Path(tempfile.mkdtemp(prefix="rules-sematic-buildgrid-"))
        self.root.chmod(0o755)
        try:
            database = self._start_postgres()
            subprocess.run([str(VENV / "bin" / "bgd"), "migrate", "apply", database], check=True,
                           capture_output=True, timeout=300)
            self.port = free_port()
            config = self.root / "server.yml"
            config.write_text(SERVER_CONFIG.format(port=self.port, database=database, root=self.root))
            (self.root / "cas").mkdir()
            server = self._spawn("bgd server", [str(VENV / "bin" / "bgd"), "server", "start", str(config)])
            _wait_for_port(self.port, server, "bgd server", self.root / "bgd server.log")
            bot = self._spawn("reapi_bot", [str(VENV / "bin" / "python"), str(BOT), "--remote", f"127.0.0.1:{self.port}",
                                            "--workdir", str(self.root / "bot"), "--concurrency", str(self.concurrency)])
            self._wait_for_session(bot)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def _wait_for_session(self, bot: subprocess.Popen, seconds: float = 180) -> None:
        """Until the bot has its session: only then does the server hand it work."""
        deadline = time.monotonic() + seconds
        while "session " not in self.bot_log():
            if bot.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot has no session with BuildGrid: {self.bot_log()[-2000:]}")
            time.sleep(0.2)

    def bot_log(self) -> str:
        return (self.root / "reapi_bot.log").read_text(errors="replace")

    def _spawn(self, name: str, command: list, user: Optional[str] = None) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, user=user, cwd=self.root)
        log.close()
        self._processes.append((name, process))
        return process

    def _start_postgres(self) -> str:
        data, sockets = self.root / "pg-data", self.root / "pg-sockets"
        for directory in (data, sockets):
            directory.mkdir(mode=0o700)
            shutil.chown(directory, "postgres", "postgres")
        subprocess.run([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True, user="postgres", timeout=120)
        port = free_port()
        postgres = self._spawn("postgres", [str(POSTGRES_BIN / "postgres"), "-D", str(data), "-p", str(port),
                                            "-k", str(sockets), "-c", "listen_addresses=127.0.0.1"], user="postgres")
        _wait_for_port(port, postgres, "postgres", self.root / "postgres.log")
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        """Stops the bot, the server and PostgreSQL (fast shutdown) by PID; removes the directory."""
        while self._processes:
            name, process = self._processes.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

