"""Shared pytest setup: the registry-side harness fixtures (tests/harness/fixtures.py)."""

pytest_plugins = ["harness.fixtures"]
