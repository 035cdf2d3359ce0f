"""Makes the requirements scripts (private/pypi) and pip's vendored `packaging` importable, as
the repository rules run them, and writes the small files their tests need."""

import ast
import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path

# This file is <runfiles>/<main repository>/tests/pypi/support.py; the scripts are data.
SCRIPTS = Path(__file__).parents[2] / "private" / "pypi"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, os.environ["RULES_SEMATIC_PIP_WHEEL"])

import dependencies  # noqa: E402,F401
import lock_files  # noqa: E402,F401
import select_wheel  # noqa: E402,F401
import targets  # noqa: E402,F401
import wheel_install  # noqa: E402,F401


def tricky_lock():
    """(lock text, {name==version: sorted hashes}) of tricky_lock.bzl, the lock every parser of
    locks is tested with (its Starlark holds literals only)."""
    tree = ast.parse((Path(__file__).parent / "tricky_lock.bzl").read_text(encoding="utf-8"))
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}
    return "\n".join(values["TRICKY_LOCK_LINES"]) + "\n", values["TRICKY_PINS"]


def fill_test_caches():
    """tools/fill_test_caches.py as a module (a script, not in a package)."""
    spec = importlib.util.spec_from_file_location("fill_test_caches", Path(__file__).parents[2] / "tools" / "fill_test_caches.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def metadata(directory: Path, name: str, *requires: str) -> str:
    """A METADATA file of `name` requiring `requires`; returns its path."""
    path = Path(directory) / f"{name}.METADATA"
    path.write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                    + "".join(f"Requires-Dist: {r}\n" for r in requires), encoding="utf-8")
    return str(path)


def die_message(function, *args, **kwargs) -> str:
    """What `function` printed when it stopped through targets.die() (exit 1); fails the test
    if it returned."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            function(*args, **kwargs)
        except SystemExit as stop:
            if stop.code != 1:
                raise AssertionError(f"exit {stop.code}, expected 1: {stderr.getvalue()}") from stop
            return stderr.getvalue()
    raise AssertionError(f"{function.__name__} returned instead of failing")
