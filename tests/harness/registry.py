"""A real docker-registry started through tools/local-registry.sh, plus a tiny raw API client
for assertions (tag lists, manifests, blob uploads the tools under test are not used for)."""

import base64
import hashlib
import json
import re
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .tools import LOCAL_REGISTRY

ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})(?: (?P<bytes>\d+))?')


@dataclass
class Access:
    method: str
    path: str
    status: int
    bytes: int = 0  # of the response body, as logged


class LocalRegistry:
    """One docker-registry process, stopped by PID in `stop()` (idempotent)."""

    def __init__(self, workdir: Path, *, htpasswd: Optional[str] = None, tls: bool = False,
                 token_realm: Optional[str] = None, token_cert: Optional[Path] = None,
                 port: Optional[int] = None):
        self.dir = Path(workdir)
        self.requested_port = port
        self.htpasswd = htpasswd
        self.tls = tls
        self.token_realm = token_realm
        self.token_cert = token_cert
        self.host = ""
        self.ca: Optional[Path] = None
        # Authorization header value for the harness's own requests.
        self.admin_auth: Optional[str] = None
        # With token auth: a TokenServer whose `issue` mints the harness's own tokens.
        self.token_server = None
        if htpasswd:
            self.admin_auth = "Basic " + base64.b64encode(htpasswd.encode()).decode()

    def start(self) -> "LocalRegistry":
        args = [str(LOCAL_REGISTRY), "start", "--dir", str(self.dir)]
        if self.requested_port:
            args += ["--port", str(self.requested_port)]
        if self.htpasswd:
            args += ["--htpasswd", self.htpasswd]
        if self.tls:
            args.append("--tls")
        if self.token_realm:
            args += ["--token-realm", self.token_realm, "--token-cert", str(self.token_cert)]
        started = subprocess.run(args, capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"local-registry.sh start failed: {started.stderr.strip()}")
        out = started.stdout
        info = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.host = info["REGISTRY"]
        self.ca = Path(info["CA"]) if "CA" in info else None
        return self

    def stop(self) -> None:
        subprocess.run([str(LOCAL_REGISTRY), "stop", "--dir", str(self.dir)], check=False)

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def log_text(self) -> str:
        path = self.dir / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> list:
        return [Access(m["method"], m["path"], int(m["status"]), int(m["bytes"] or 0))
                for m in ACCESS_LINE.finditer(self.log_text())]

    def blob_uploads(self, since: int = 0) -> list:
        """Completed blob uploads (the final PUT with ?digest=) logged after entry `since`."""
        return [a for a in self.access_log()[since:]
                if a.method == "PUT" and "/blobs/uploads/" in a.path and a.status == 201]

    def blob_reads(self, repository: str, since: int = 0) -> list:
        """Successful blob GETs from `repository` logged after entry `since`."""
        return [a for a in self.access_log()[since:]
                if a.method == "GET" and a.path.startswith(f"/v2/{repository}/blobs/") and a.status == 200]

    def blob_bytes_served(self, digests, since: int = 0, until: Optional[int] = None) -> int:
        """Bytes of the blobs `digests` sent (whole or by range) in the entries `since` to
        `until` (default: all after `since`): what a lazy pull fetched."""
        return sum(a.bytes for a in self.access_log()[since:until]
                   if a.method == "GET" and a.status in (200, 206)
                   and "/blobs/" in a.path and a.path.rsplit("/", 1)[1] in digests)

    def manifest_puts(self, since: int = 0) -> list:
        return [a for a in self.access_log()[since:]
                if a.method == "PUT" and "/manifests/" in a.path and a.status == 201]

    # Raw API -------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None):
        """Returns (status, headers, body); never raises for HTTP statuses."""
        url = f"{self.scheme}://{self.host}{path}"
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        if self.token_server is not None:
            repository = re.match(r"/v2/(.+?)/(tags|manifests|blobs)/", path)
            scopes = [f"repository:{repository.group(1)}:pull,push"] if repository else []
            request.add_header("Authorization", "Bearer " + self.token_server.issue("harness", scopes))
        elif self.admin_auth:
            request.add_header("Authorization", self.admin_auth)
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def tags(self, repository: str) -> list:
        status, _, body = self.request("GET", f"/v2/{repository}/tags/list")
        if status == 404:
            return []
        assert status == 200, (status, body)
        return json.loads(body).get("tags") or []

    def manifest_digest(self, repository: str, reference: str) -> Optional[str]:
        status, headers, body = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT})
        if status == 404:
            return None
        assert status == 200, (status, body)
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def has_blob(self, repository: str, digest: str) -> bool:
        status, _, _ = self.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return status == 200

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{repository}/blobs/uploads/", b"")
        assert status == 202, (status, body)
        location = headers["Location"]
        separator = "&" if "?" in location else "?"
        if location.startswith("/"):
            location = f"{self.scheme}://{self.host}{location}"
        path = location.split(self.host, 1)[1]
        status, _, body = self.request("PUT", f"{path}{separator}digest={digest}", data,
                                       {"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        return digest

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> None:
        status, _, body = self.request("PUT", f"/v2/{repository}/manifests/{reference}", data,
                                       {"Content-Type": media_type})
        assert status == 201, (status, body)


ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
