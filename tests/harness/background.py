"""The in-process HTTP servers of the harness (token server, scripted hostile registry): one
ThreadingHTTPServer on 127.0.0.1 serving from a daemon thread until stopped."""

import socket
import ssl
import threading
from http.server import ThreadingHTTPServer
from typing import Optional


class BackgroundServer:
    """Serves `handler` on a free port of 127.0.0.1 (with TLS when given a context)."""

    def __init__(self, handler, tls: Optional[ssl.SSLContext] = None):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if tls:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    """A port of 127.0.0.1 free now, for servers started as processes that need one named."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
