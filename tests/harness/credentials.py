"""Registry credentials for the tests: a user and password, docker config files holding them,
credential helpers, and the check that no output ever shows them."""

import base64
import json
import os

USER, PASSWORD = "alice", "pa55-Word-9f3c1"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def docker_helper(tmp_path, name: str, script: str) -> dict:
    """Writes docker-credential-NAME running `script` (sh); returns the env putting it on PATH."""
    helper = tmp_path / "bin" / f"docker-credential-{name}"
    helper.parent.mkdir(exist_ok=True)
    helper.write_text("#!/bin/sh\n" + script)
    helper.chmod(0o755)
    return {"PATH": f"{helper.parent}:{os.environ['PATH']}"}


def docker_config(tools, content: dict) -> None:
    """Writes `content` as the docker config.json in the tools' (clean) home."""
    directory = tools.home / ".docker"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(content))


def basic_auths(host: str, user=USER, password=PASSWORD) -> dict:
    return {"auths": {host: {"auth": b64(f"{user}:{password}")}}}


def assert_no_secrets(result, *secrets):
    output = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in output, f"secret leaked: {secret[:6]}…"
