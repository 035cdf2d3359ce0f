#!/usr/bin/env bash
# Layer-building benchmark: sematic-layer against tar piped into gzip and pigz, on the same
# realistic tree in the same run.
#
# The tree is a Python virtualenv with sematic==0.41.0 installed (about 420 MB of
# site-packages, tens of thousands of files: what a Sematic py_binary's runfiles carry). It is
# cached between runs in $LAYER_BENCH_CACHE (default ~/.cache/rules_sematic/layer_bench).
#
# Every contender reads the same files with a warm page cache and writes to the same
# filesystem; wall time is measured around each command. Needs: cargo, python3 (with venv and
# pip, and PyPI reachable the first time), GNU tar, gzip, pigz.
#
# Usage: benchmarks/layer_bench.sh [--runs N]   (default 3 runs; the best of each is reported)
set -euo pipefail

runs=3
if [[ "${1:-}" == "--runs" ]]; then
  runs="$2"
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${LAYER_BENCH_CACHE:-$HOME/.cache/rules_sematic/layer_bench}"
venv="$cache/venv"
sematic_version="0.41.0"

for tool in cargo python3 tar gzip pigz; do
  command -v "$tool" >/dev/null || { echo "layer_bench: $tool is required" >&2; exit 1; }
done

if [[ ! -f "$venv/.installed-$sematic_version" ]]; then
  echo "layer_bench: building the tree: python3 -m venv + pip install sematic==$sematic_version" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "sematic==$sematic_version"
  touch "$venv/.installed-$sematic_version"
fi
tree="$(echo "$venv"/lib/python3*/site-packages)"

echo "layer_bench: building sematic-layer (release)" >&2
cargo build --quiet --release --manifest-path "$repo/tools/Cargo.toml" -p sematic-layer
layer_bin="$repo/tools/target/release/sematic-layer"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The manifest lists every file, directory and symlink of the tree, as the Starlark rule would
# for a runfiles tree.
python3 - "$tree" "$work/entries.json" <<'EOF'
import json, os, sys
tree, out = sys.argv[1], sys.argv[2]
root = "/app/pkg/bin.runfiles/pypi/site-packages"
entries = []
for dirpath, dirnames, filenames in os.walk(tree):
    dirnames.sort()
    rel = os.path.relpath(dirpath, tree)
    dest = root if rel == "." else f"{root}/{rel}"
    for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
        src = os.path.join(dirpath, name)
        if os.path.islink(src):
            target = os.readlink(src)
            if not os.path.isabs(target):
                entries.append({"path": f"{dest}/{name}", "kind": "symlink", "target": target})
                continue
        entries.append({"path": f"{dest}/{name}", "kind": "file", "src": src})
json.dump({"symlink_root": "/app/pkg/bin.runfiles", "entries": entries}, open(out, "w"))
print(len(entries))
EOF

input_bytes="$(du -sb --apparent-size "$tree" | cut -f1)"
files="$(find "$tree" -type f | wc -l)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the page cache so every contender reads from memory.
tar -C "$tree" -cf - . >/dev/null

now() { date +%s.%N; }

# best_of NAME OUTPUT COMMAND...: runs COMMAND $runs times, records the fastest wall time.
declare -A seconds size
best_of() {
  local name="$1" output="$2"
  shift 2
  local best="" start end elapsed
  for _ in $(seq "$runs"); do
    rm -f "$output"
    start="$(now)"
    "$@"
    end="$(now)"
    elapsed="$(echo "$end - $start" | bc -l)"
    if [[ -z "$best" ]] || (( $(echo "$elapsed < $best" | bc -l) )); then
      best="$elapsed"
    fi
  done
  seconds[$name]="$best"
  size[$name]="$(stat -c %s "$output")"
}

ours() {
  "$layer_bin" manifest "$work/entries.json" --output "$work/ours.tgz" \
    --descriptor "$work/ours.json" "$@"
}
ours_jobs1() { ours --jobs 1; }
tar_gzip() { tar -C "$tree" -cf - . | gzip -6 >"$work/gzip.tgz"; }
tar_pigz() { tar -C "$tree" -cf - . | pigz -6 >"$work/pigz.tgz"; }
tar_pigz_p2() { tar -C "$tree" -cf - . | pigz -6 -p 2 >"$work/pigz2.tgz"; }

best_of "sematic-layer" "$work/ours.tgz" ours
best_of "sematic-layer --jobs 1" "$work/ours.tgz" ours_jobs1
best_of "tar | gzip -6" "$work/gzip.tgz" tar_gzip
best_of "tar | pigz -6" "$work/pigz.tgz" tar_pigz
best_of "tar | pigz -6 -p 2" "$work/pigz2.tgz" tar_pigz_p2

ours_s="${seconds[sematic-layer]}"
mb="$(echo "$input_bytes / 1000000" | bc -l)"
echo
echo "Layer building, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
printf 'Tree: sematic==%s site-packages, %d files, %.1f MB; best of %d runs, warm page cache\n' \
  "$sematic_version" "$files" "$mb" "$runs"
printf 'Load average (1/5/15 min) before: %s, after: %s\n\n' "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-24s | %8s | %8s | %10s | %12s |\n' "command" "wall s" "MB/s" "output MB" "ours is ×"
echo '|--------------------------|---------:|---------:|-----------:|-------------:|'
for name in "sematic-layer" "sematic-layer --jobs 1" "tar | gzip -6" "tar | pigz -6" "tar | pigz -6 -p 2"; do
  s="${seconds[$name]}"
  printf '| %-24s | %8.2f | %8.1f | %10.1f | %11.2f× |\n' \
    "$name" "$s" "$(echo "$mb / $s" | bc -l)" "$(echo "${size[$name]} / 1000000" | bc -l)" \
    "$(echo "$s / $ours_s" | bc -l)"
done
echo
echo "'ours is ×' = that command's wall time / sematic-layer's (default --jobs = $(nproc))."
