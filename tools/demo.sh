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
echo "== bazel run //examples/hello:main -- --dry-run   (build + push the image, launch with its URI)"
# --dry-run: there is no Sematic server or Kubernetes cluster here to submit to; the launch
# script shows what CloudRunner would get. Drop it on a machine with `sematic settings` done.
bazel run //examples/hello:main -- --dry-run

echo
echo "== bazel run //examples/hello:main_local -- 1 2 3   (the same pipeline, run here)"
bazel run //examples/hello:main_local -- 1 2 3
