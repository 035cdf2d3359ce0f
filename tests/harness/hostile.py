"""A scripted HTTP(S) server on 127.0.0.1 playing a hostile or broken registry: the test's
`handler(request) -> Reply` chooses every answer (redirects, challenges naming any realm,
oversized or escape-laden bodies), and a Reply may trickle its body at a chosen speed. Every
request is recorded in `requests`, with whether it carried credentials. `SilentServer` accepts
connections and never says a word (a registry hung behind its load balancer)."""

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .background import BackgroundServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes
    # Bytes of the reply's body that went out before the client stopped reading.
    sent: int = 0

    @property
    def authorization(self) -> Optional[str]:
        return self.headers.get("authorization")


@dataclass
class Reply:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    # Send the body at this many bytes per second.
    trickle: Optional[float] = None
    # Announce this Content-Length instead of the body's.
    length: Optional[int] = None
    # Send the body with chunked transfer encoding (no length announced).
    chunked: bool = False


def self_signed(directory: Path) -> tuple:
    """A fresh self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class HostileServer:
    """Answers with `handler`; with `tls_dir`, speaks TLS with a self-signed certificate."""

    def __init__(self, handler: Callable[[Request], Reply], *, tls_dir: Optional[Path] = None):
        self.handler = handler
        self.tls_dir = tls_dir
        self.requests: list = []
        self._server: Optional[BackgroundServer] = None

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_dir else 'http'}://{self.address}"

    def start(self) -> "HostileServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path,
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                owner.requests.append(request)
                reply = owner.handler(request)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(reply.length if reply.length is not None
                                                           else len(reply.body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                rate = reply.trickle
                if not rate:
                    step = 1 << 16
                else:  # ten writes a second, or single bytes when slower than that
                    step = max(1, int(rate / 10))
                try:
                    for i in range(0, len(reply.body), step):
                        piece = reply.body[i:i + step]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.chunked else piece)
                        self.wfile.flush()
                        request.sent += len(piece)
                        if rate:
                            time.sleep(step / rate)
                    if reply.chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        context = None
        if self.tls_dir:
            cert, key = self_signed(self.tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        self._server = BackgroundServer(Handler, tls=context)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None


class SilentServer:
    """Accepts every TCP connection on 127.0.0.1 and holds it open without reading or writing;
    a context manager that closes everything on exit."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self._held.append(self._listener.accept()[0])
            except OSError:  # the listener was closed
                return

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc) -> None:
        # shutdown() wakes the blocked accept(); close() alone would not.
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._held:
            connection.close()
