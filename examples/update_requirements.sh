#!/usr/bin/env bash
# Regenerates examples/requirements_lock.txt from examples/requirements.in for Python 3.13
# (the examples' interpreter), with hashes. Needs network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3.13}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet pip-tools
CUSTOM_COMPILE_COMMAND=examples/update_requirements.sh "$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --output-file requirements_lock.txt requirements.in
