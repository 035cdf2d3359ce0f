#!/usr/bin/env bash
# Regenerates examples/requirements_lock.txt from examples/requirements.in: one universal lock
# (environment markers, every file's sha256) for Python 3.9 and newer on any platform, so the
# same lock serves the images' Python (3.11 on Debian bookworm, 3.9 on bullseye, amd64 and
# arm64) and the host's. Needs network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")"
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet uv
UV_CUSTOM_COMPILE_COMMAND=examples/update_requirements.sh "$venv/bin/uv" pip compile --quiet \
    --universal --generate-hashes --python-version 3.9 --output-file requirements_lock.txt requirements.in
