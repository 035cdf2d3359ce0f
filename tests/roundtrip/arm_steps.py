"""The pipeline of //tests/roundtrip:arm: one function, which its driver runs (inline)."""

import platform

import sematic


@sematic.func
def machine() -> str:
    """The CPU the driver runs on: aarch64 when its pod is on the arm64 node."""
    return platform.machine()
