"""A docker token server (the Bearer flow of Docker Hub, GHCR, …) for docker-registry's
`auth.token` config: RS256 JWTs whose x5c header carries a self-signed certificate that is
also the registry's rootcertbundle."""

import base64
import datetime
import json
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable, Optional

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .background import BackgroundServer

SERVICE = "test-registry"
# docker-registry 2.8 accepts a token until 60 s after its `exp` (clock-skew leeway).
REGISTRY_LEEWAY = 60
ISSUER = "test-issuer"


def allow_all(user: Optional[str], repository: str) -> set:
    """Default policy: authenticated users may pull and push anything, anonymous nothing."""
    return {"pull", "push"} if user else set()


class TokenServer:
    """In-process token server on 127.0.0.1; `requests` records every token request.

    `token_lifetime` is the JWT's real validity; `advertised_lifetime` is the `expires_in`
    told to clients (set it longer to make a client reuse an expired token).
    """

    def __init__(self, workdir: Path, *, users: Optional[dict] = None,
                 refresh_tokens: Optional[dict] = None,
                 policy: Callable[[Optional[str], str], set] = allow_all,
                 token_lifetime: int = 300, advertised_lifetime: Optional[int] = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.users = users or {}
        self.refresh_tokens = refresh_tokens or {}
        self.policy = policy
        self.token_lifetime = token_lifetime
        self.advertised_lifetime = advertised_lifetime or token_lifetime
        self.requests: list = []
        # Every token handed out, so tests can check none of them leaks into output.
        self.issued: list = []
        self.cert_path = self.dir / "token-cert.pem"
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - datetime.timedelta(days=1))
                      .not_valid_after(now + datetime.timedelta(days=30))
                      .sign(self._key, hashes.SHA256()))
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._server: Optional[BackgroundServer] = None

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/token"

    def issue(self, user: Optional[str], scopes: list) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            repository, _, actions = rest.rpartition(":")
            if kind != "repository":
                continue
            granted = sorted(set(actions.split(",")) & self.policy(user, repository))
            access.append({"type": "repository", "name": repository, "actions": granted})
        now = int(time.time())
        # Shift short lifetimes by the registry's leeway so that it really refuses the token
        # `token_lifetime` seconds from now.
        exp = now + self.token_lifetime - (REGISTRY_LEEWAY if self.token_lifetime < REGISTRY_LEEWAY else 0)
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "iat": min(now, exp),
                  "nbf": min(now, exp) - 10, "exp": exp, "jti": uuid.uuid4().hex, "access": access}
        der = self._cert.public_bytes(serialization.Encoding.DER)
        token = jwt.encode(claims, self._key, algorithm="RS256",
                           headers={"x5c": [base64.b64encode(der).decode()]})
        self.issued.append(token)
        return token

    def start(self) -> "TokenServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                scopes = query.get("scope", [])
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(name) != password:
                        server.requests.append({"grant": "basic", "user": name, "scopes": scopes, "ok": False})
                        return self._reply(401, {"details": "invalid credentials"})
                    user = name
                server.requests.append({"grant": "basic" if user else "anonymous", "user": user,
                                        "scopes": scopes, "ok": True})
                token = server.issue(user, scopes)
                self._reply(200, {"token": token, "access_token": token,
                                  "expires_in": server.advertised_lifetime})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                scopes = " ".join(form.get("scope", [])).split()
                grant = form.get("grant_type", [""])[0]
                user = None
                if grant == "refresh_token":
                    user = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
                elif grant == "password":
                    name = form.get("username", [""])[0]
                    if server.users.get(name) == form.get("password", [""])[0]:
                        user = name
                server.requests.append({"grant": grant, "user": user, "scopes": scopes, "ok": bool(user)})
                if not user:
                    return self._reply(401, {"error": "invalid_grant"})
                token = server.issue(user, scopes)
                self._reply(200, {"access_token": token, "expires_in": server.advertised_lifetime})

        self._server = BackgroundServer(Handler)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()
            self._server = None
