#!/usr/bin/env bash
# test-remote.sh — remote execution: builds an example image with --remote_executor against
# BuildGrid (PostgreSQL, the BuildGrid server and tests/harness/reapi_bot.py, all on loopback,
# started and stopped by the test). Kept out of tools/test.sh for the CI budget: it starts three
# servers and builds the image twice (remotely, then locally to compare), several minutes.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
HOME_DIR=${RULES_SEMATIC_HOME:-$HOME/.cache/rules_sematic}

tools/bootstrap.sh
"$HOME_DIR/venv/bin/pytest" -p no:cacheprovider -q tests/remote "$@"
