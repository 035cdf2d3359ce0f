"""Debian's nginx as a Bazel HTTP remote cache (WebDAV PUT into a directory, GET back), on a free
port of 127.0.0.1. The master process is started and stopped (SIGQUIT, by PID) by this class.

nginx's workers run as www-data (the master as root): its directory lives in a fresh directory
of /tmp owned by www-data, since pytest's temporary directories are private to root and the
workers could not write there (PUT would answer 500).
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

CONFIG = """\
daemon off;
user www-data;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/cache;
        # CAS blobs (layers) can be large.
        client_max_body_size 0;
        location / {{
            dav_methods PUT DELETE;
            # Bazel PUTs ac/<hash> and cas/<hash> without creating the directories first.
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""


class NginxCache:
    """One nginx master; `url` is the `--remote_cache` value, `stored_bytes()` what it holds."""

    def __init__(self):
        self.root: Optional[Path] = None
        self.port = 0
        self._process: Optional[subprocess.Popen] = None

    def start(self) -> "NginxCache":
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is missing: run tools/bootstrap.sh (it installs Debian's nginx)")
        self.root = Path(tempfile.mkdtemp(prefix="rules-sematic-nginx-"))
        self.root.chmod(0o755)  # the workers reach cache/ and tmp/ through it
        for name in ("cache", "tmp"):
            (self.root / name).mkdir()
        self.port = free_port()
        config = self.root / "nginx.conf"
        config.write_text(CONFIG.format(root=self.root, port=self.port))
        shutil.chown(self.root / "cache", "www-data", "www-data")
        shutil.chown(self.root / "tmp", "www-data", "www-data")
        self._process = subprocess.Popen([nginx, "-p", str(self.root), "-e", str(self.root / "error.log"),
                                          "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace").strip()
                self.stop()
                raise RuntimeError(f"nginx exited at start: {error}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not listen on 127.0.0.1:{self.port} within 30 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stored_bytes(self) -> int:
        return sum(f.stat().st_size for f in (self.root / "cache").rglob("*") if f.is_file())

    def stored_blobs(self) -> set:
        """The sha256 (hex) of every file in the cache's CAS: layer blobs are there by digest."""
        cas = self.root / "cache" / "cas"
        return {f.name for f in cas.iterdir()} if cas.is_dir() else set()

    def access_log(self) -> str:
        return (self.root / "access.log").read_text(errors="replace")

    def stop(self) -> None:
        """Graceful stop of the master (it stops its workers), then the directory goes. Idempotent."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGQUIT)
                try:
                    self._process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process.stderr.close()
            self._process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
