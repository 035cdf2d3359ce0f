"""A counting HTTP forward proxy on loopback: `CONNECT host:443` tunnels (HTTPS: one per
connection) and absolute-URI requests (plain HTTP, e.g. a Debian mirror) are forwarded and
recorded, so a benchmark or test can say how many network requests a build made, and to where.
Bazel's downloader and apt both honour HTTPS_PROXY / http_proxy."""

import select
import socket
import socketserver
import threading
import urllib.parse
from collections import Counter


class ForwardProxy:
    def __init__(self):
        self.requests = Counter()  # "CONNECT host:port" or "GET http://host/path"
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                proxy._handle(self)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "ForwardProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def environment(self) -> dict:
        """Variables that send Bazel's downloads and apt's through this proxy."""
        return {name: self.url for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")}

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def _record(self, what: str) -> None:
        with self._lock:
            self.requests[what] += 1

    def _handle(self, handler) -> None:
        line = handler.rfile.readline(65536).decode("latin-1").strip()
        headers = []
        while True:
            header = handler.rfile.readline(65536)
            if header in (b"\r\n", b"\n", b""):
                break
            headers.append(header)
        method, target, _ = (line.split(" ", 2) + ["", ""])[:3]
        if method == "CONNECT":
            self._record(f"CONNECT {target}")
            host, _, port = target.rpartition(":")
            with socket.create_connection((host, int(port)), timeout=60) as upstream:
                handler.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                handler.wfile.flush()
                _relay(handler.connection, upstream)
            return
        self._record(f"{method} {target}")
        url = urllib.parse.urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        with socket.create_connection((url.hostname, url.port or 80), timeout=60) as upstream:
            kept = [h for h in headers if not h.lower().startswith((b"proxy-", b"connection:"))]
            upstream.sendall(f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(kept) + b"Connection: close\r\n\r\n")
            _relay(handler.connection, upstream)


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copies bytes both ways until either side closes."""
    sockets = [client, upstream]
    while True:
        readable, _, _ = select.select(sockets, [], [], 120)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (upstream if source is client else client).sendall(data)
