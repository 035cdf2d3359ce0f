#!/usr/bin/env bash
# update_docs.sh — regenerate docs/*.md (the API reference) from the public .bzl files'
# docstrings; //docs:docs_test fails until the result is committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bazel build //docs:all
for page in bazel-bin/docs/generated/*.md; do
    install -m 0644 "$page" "docs/$(basename "$page")"
done
echo "docs/: $(ls bazel-bin/docs/generated | tr '\n' ' ')"
