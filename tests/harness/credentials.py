"""Registry credentials for the tests: a user and password, docker config files holding them,
and the check that no output ever shows them."""

import base64
import json

USER, PASSWORD = "alice", "pa55-Word-9f3c1"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


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
