"""A fault-injecting HTTP/1.1 proxy for a plain-HTTP registry on 127.0.0.1.

Each request from the client is read in full and then, for a seeded share of requests,
answered with a fault instead of (or after) being forwarded:

* ``reset``     the connection is reset (RST) before the request reaches the registry;
* ``reset-after`` the request is forwarded and processed, then the connection is reset
                before the response is sent (the client cannot know it succeeded);
* ``stall``     nothing is answered for `stall_seconds`, then the connection is closed;
* ``500``/``502`` an error status with a registry-style JSON body (scripts may name any
                status, e.g. ``403`` for a registry refusing cross-repository mounts);
* ``429``       Too Many Requests with ``Retry-After``;
* ``truncate``  the response is forwarded with its full Content-Length but only half of
                its body, then the connection is closed (announced by `Connection: close`, so
                a client never reuses it: whether the next request would race the close to a
                pooled connection is not this fault's business);
* ``cut``       half of the request body is read, then the connection is reset; the registry
                never sees the request (a proxy that buffers request bodies, as nginx does by
                default, losing its client midway through an upload);
* ``down``      a restart: this and every open connection are closed and the port refuses
                connections for `down_seconds`, then listens again (the registry is not
                touched; what it held stays).

`script` entries `(predicate(method, path), fault[, count])` fire `count` times each (once
by default, forever with None), before the random ones;
`rewrite(method, path, status, body) -> body` alters forwarded bodies (a lying registry);
`reject_put_bodies_over` answers 413 to blob upload PUTs with a larger body (a registry that
refuses monolithic uploads);
`delay` slows every request down (to let short-lived tokens expire mid-push);
`redirect_blob_gets_to` answers blob GETs with a 307 to the same path on another host:port
(a registry that serves blobs from storage); `inject_authorization` replaces the
Authorization header sent upstream (a storage host that authorizes by signed URL).
The Host header is passed through unchanged, so the registry's Location headers point back
at the proxy. Everything is recorded in `log`.
"""

import http.client
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

FAULTS = ("reset", "reset-after", "stall", "500", "502", "429", "truncate")
# Only scripted: it is meaningful for upload requests alone.
CUT = "cut"
# Only scripted: it stops the whole proxy for a while.
DOWN = "down"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}


@dataclass
class Record:
    time: float  # when the answer went out (or the fault struck)
    method: str
    path: str
    fault: Optional[str]
    status: Optional[int]
    body_length: int
    authorization: bool = False
    started: float = 0.0  # when the request's head arrived


class FaultProxy:
    def __init__(self, upstream: str, *, rate: float = 0.0, seed: int = 0, faults=FAULTS,
                 stall_seconds: float = 5.0, down_seconds: float = 2.0, retry_after: str = "1",
                 script: Optional[list] = None,
                 rewrite: Optional[Callable] = None,
                 reject_put_bodies_over: Optional[int] = None, delay: float = 0.0,
                 redirect_blob_gets_to: Optional[str] = None,
                 inject_authorization: Optional[str] = None):
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.rate = rate
        self.random = random.Random(seed)
        self.faults = tuple(faults)
        self.stall_seconds = stall_seconds
        self.down_seconds = down_seconds
        self.retry_after = retry_after
        self.script = list(script or [])
        self.rewrite = rewrite
        self.reject_put_bodies_over = reject_put_bodies_over
        self.delay = delay
        self.redirect_blob_gets_to = redirect_blob_gets_to
        self.inject_authorization = inject_authorization
        self.log: list = []
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._port = 0
        self._connections: set = set()
        self._stopping = threading.Event()
        # Per serving thread: when the request being handled arrived.
        self._this_request = threading.local()

    @property
    def address(self) -> str:
        assert self._port, "the proxy is not started"
        return f"127.0.0.1:{self._port}"

    def start(self) -> "FaultProxy":
        self._listen()
        return self

    def _listen(self) -> None:
        """Listens on the proxy's port (any free one the first time)."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", self._port))
            self._listener.listen(64)
            self._port = self._listener.getsockname()[1]
            threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self._close_everything()

    def _close_everything(self) -> None:
        with self._lock:
            if self._listener:
                try:
                    # Stops listening now: a bare close leaves the socket to the thread blocked
                    # in accept(), which would take one more connection.
                    self._listener.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._listener.close()
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)  # wakes the thread reading it
                except OSError:
                    pass
                connection.close()

    def faults_injected(self) -> list:
        return [r for r in self.log if r.fault]

    # --------------------------------------------------------------------------------------

    def _accept(self, listener: socket.socket):
        while not self._stopping.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.add(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _choose_fault(self, method: str, path: str) -> Optional[str]:
        with self._lock:
            for i, entry in enumerate(self.script):
                predicate, fault, count = (tuple(entry) + (1,))[:3]
                if predicate(method, path):
                    if count is not None:
                        if count <= 1:
                            del self.script[i]
                        else:
                            self.script[i] = (predicate, fault, count - 1)
                    return fault
            if self.rate and self.random.random() < self.rate:
                return self.random.choice(self.faults)
        return None

    def _serve(self, connection: socket.socket):
        reader = connection.makefile("rb")
        try:
            # Like Go's HTTP server, answer a TLS ClientHello (0x16) at once instead of waiting
            # for a request line that never comes: clients probing for TLS must learn fast.
            if connection.recv(1, socket.MSG_PEEK) == b"\x16":
                connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent a TLS handshake to an HTTP server.\n")
                return
            while not self._stopping.is_set():
                head = _read_head(reader)
                if head is None:
                    return
                method, path, headers = head
                self._this_request.started = time.monotonic()
                fault = self._choose_fault(method, path)
                if fault == CUT:
                    self._cut(connection, reader, method, path, headers)
                    return
                if fault == DOWN:
                    self._record(method, path, DOWN, None, b"", headers)
                    self._close_everything()
                    threading.Timer(self.down_seconds, self._listen).start()
                    return
                body, headers = _read_body(reader, headers)
                if not self._handle(connection, method, path, headers, body, fault):
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            try:
                connection.close()
            except OSError:
                pass

    def _record(self, method, path, fault, status, body, headers=()):
        authorization = any(k.lower() == "authorization" for k, _ in headers)
        with self._lock:
            self.log.append(Record(time.monotonic(), method, path, fault, status, len(body),
                                   authorization, getattr(self._this_request, "started", 0.0)))

    def _cut(self, connection, reader, method, path, headers):
        """Reads half of the body, then resets the client; nothing reaches the registry."""
        length = int({k.lower(): v for k, v in headers}.get("content-length", "0"))
        arrived = reader.read(length // 2)
        self._record(method, path, CUT, None, arrived, headers)
        _reset(connection)

    def _forward(self, method, path, headers, body):
        """Sends the request to the registry: (status, reason, headers, body) of its answer."""
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            forward = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
            if self.inject_authorization:
                forward = [(k, v) for k, v in forward if k.lower() != "authorization"]
                forward.append(("Authorization", self.inject_authorization))
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in forward:
                upstream.putheader(key, value)
            if body and not any(k.lower() == "content-length" for k, _ in forward):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body if body else None)
            response = upstream.getresponse()
            response_body = response.read()
            response_headers = [(k, v) for k, v in response.getheaders()
                                if k.lower() not in HOP_BY_HOP]
            return response.status, response.reason, response_headers, response_body
        finally:
            upstream.close()

    def _handle(self, connection, method, path, headers, body, fault) -> bool:
        """Answers one request; False closes the client connection."""
        if (self.redirect_blob_gets_to and method == "GET" and "/blobs/sha256:" in path
                and not fault):
            self._record(method, path, "redirect", 307, body, headers)
            _send(connection, 307, "Temporary Redirect",
                  [("Location", f"http://{self.redirect_blob_gets_to}{path}")], b"", method)
            return True
        if self.delay:
            time.sleep(self.delay)
        if (self.reject_put_bodies_over is not None and method == "PUT" and "/blobs/uploads/" in path
                and len(body) > self.reject_put_bodies_over and not fault):
            fault = "413"
        if fault == "reset":
            self._record(method, path, fault, None, body)
            _reset(connection)
            return False
        if fault == "stall":
            self._record(method, path, fault, None, body)
            self._stopping.wait(self.stall_seconds)
            return False
        if fault and fault.isdigit():
            status = int(fault)
            code = {403: "DENIED", 405: "UNSUPPORTED", 429: "TOOMANYREQUESTS"}.get(status, "UNKNOWN")
            payload = json.dumps({"errors": [{"code": code, "message": f"injected {status}"}]}).encode()
            extra = [("Retry-After", self.retry_after)] if status == 429 else []
            self._record(method, path, fault, status, body)
            _send(connection, status, "Injected", [("Content-Type", "application/json")] + extra,
                  payload, method)
            return True

        status, reason, response_headers, response_body = self._forward(method, path, headers, body)
        if self.rewrite:
            response_body = self.rewrite(method, path, status, response_body)
            if method != "HEAD":
                response_headers = [(k, v) for k, v in response_headers if k.lower() != "content-length"]
        self._record(method, path, fault, status, body, headers)
        if fault == "reset-after":
            _reset(connection)
            return False
        if fault == "truncate":
            _send(connection, status, reason, response_headers, response_body, method,
                  truncate=True)
            return False
        _send(connection, status, reason, response_headers, response_body, method)
        return True


def _read_head(reader):
    """(method, path, headers) of the next request, None at the end of the connection."""
    line = reader.readline(65537)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    while True:
        header = reader.readline(65537)
        if header in (b"\r\n", b"\n", b""):
            break
        key, _, value = header.decode("latin-1").partition(":")
        headers.append((key.strip(), value.strip()))
    return method, path, headers


def _read_body(reader, headers):
    """The request body, and the headers with a chunked body's length made explicit."""
    lookup = {k.lower(): v for k, v in headers}
    if "content-length" in lookup:
        body = reader.read(int(lookup["content-length"]))
    elif lookup.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            if size == 0:
                reader.readline()
                break
            chunks.append(reader.read(size))
            reader.readline()
        body = b"".join(chunks)
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        headers.append(("Content-Length", str(len(body))))
    else:
        body = b""
    return body, headers


def _send(connection, status, reason, headers, body, method, truncate=False):
    lines = [f"HTTP/1.1 {status} {reason}"]
    if truncate:
        lines.append("Connection: close")
    has_length = False
    for key, value in headers:
        if key.lower() == "content-length":
            has_length = True
        lines.append(f"{key}: {value}")
    if not has_length:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if method == "HEAD":
        body = b""
    if truncate:
        body = body[: len(body) // 2]
    connection.sendall(head + body)


def _reset(connection):
    """Closes with RST instead of FIN."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
