"""A static HTTP server on 127.0.0.1 for release archives: serves one directory and records
every request path, so a test can tell what was downloaded from it."""

import functools
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from harness.background import BackgroundServer


class FileServer:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.requests = []
        self._server = None

    def start(self) -> "FileServer":
        requests = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self._server = BackgroundServer(functools.partial(Handler, directory=str(self.directory)))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None
