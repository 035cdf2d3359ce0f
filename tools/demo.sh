#!/usr/bin/env bash
# demo.sh — the example pipeline end to end on this machine: bootstrap (if needed), a local
# registry on 127.0.0.1:5000, `bazel run //examples/hello:main` (build the image, push it, launch
# the pipeline with its URI), then the same pipeline run locally. The registry is stopped at the
# end unless KEEP_REGISTRY=1.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
STATE=${RULES_SEMATIC_HOME:-$HOME/.cache/rules_sematic}/demo-registry

tools/bootstrap.sh
if [ "${KEEP_REGISTRY:-0}" != 1 ]; then
    trap 'tools/local-registry.sh stop --dir "$STATE" >/dev/null || true' EXIT
fi
tools/local-registry.sh start --dir "$STATE" --port 5000

echo
echo "== bazel run //examples/hello:main -- --no-server-check -- --dry-run   (build + push the image, launch with its URI)"
# There is no Sematic server or Kubernetes cluster here to submit to: --no-server-check stops
# the launcher from asking for one, and the launch script's --dry-run shows what CloudRunner
# would get. Drop both on a machine with a Sematic server (README: "Running on a Sematic server").
bazel run //examples/hello:main -- --no-server-check -- --dry-run

echo
echo "== bazel run //examples/hello:main_local -- 1 2 3   (the same pipeline, run here)"
bazel run //examples/hello:main_local -- 1 2 3
