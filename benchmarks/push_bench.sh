#!/usr/bin/env bash
# Push benchmark: sematic-push vs skopeo against one local docker-registry.
#
#   benchmarks/push_bench.sh [--layers N] [--layer-mb MB] [--big-mb MB] [--runs N] [--keep]
#
# 1. A multi-layer image (N random gzip layers of MB each, plus a small app layer) is pushed
#    for the first time, `--runs` times per tool, alternating tools, each time to a fresh
#    registry (so no tool can mount from an earlier run: skopeo remembers blob locations).
# 2. Incremental push: one small layer changed, pushed right after to the same repository.
# 3. Peak RSS of sematic-push pushing one uncompressed layer of --big-mb (default 1 GiB),
#    from /usr/bin/time -v.
# Bytes uploaded are the sizes of the blobs whose upload completed, from the registry's
# access log, so both tools are measured the same way. Prints a Markdown table.
set -euo pipefail

layers=6
layer_mb=50
big_mb=1024
runs=3
keep=false
while (($#)); do
  case $1 in
    --layers) layers=$2; shift 2 ;;
    --layer-mb) layer_mb=$2; shift 2 ;;
    --big-mb) big_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
for tool in skopeo python3 /usr/bin/time docker-registry; do
  command -v "$tool" >/dev/null || { echo "push_bench.sh: needs $tool" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/push-bench.XXXXXX")
cleanup() {
  local dir
  for dir in "$work"/registry-*; do
    [[ -d "$dir" ]] && "$root/tools/local-registry.sh" stop --dir "$dir"
  done
  if ! $keep; then rm -rf "$work"; fi
}
trap cleanup EXIT

echo "push_bench.sh: building release tools" >&2
(cd "$root/tools" && cargo build --release --locked --quiet --bin sematic-push)
push="$root/tools/target/release/sematic-push"

registry="" log=""
fresh_registry() { # name: starts a new registry, stops the previous one
  if [[ -n "$registry" ]]; then
    "$root/tools/local-registry.sh" stop --dir "$(dirname "$log")"
  fi
  registry=$("$root/tools/local-registry.sh" start --dir "$work/registry-$1" | sed -n 's/^REGISTRY=//p')
  log="$work/registry-$1/registry.log"
}

echo "push_bench.sh: writing test images in $work" >&2
python3 - "$work" "$layers" "$layer_mb" "$big_mb" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile

work, layers, layer_mb, big_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()

def tar_of(name, data):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()

def write(layout, blobs, media):
    """blobs: list of (blob bytes or path, digest, size, diff_id); media: layer media type."""
    os.makedirs(f"{layout}/blobs/sha256", exist_ok=True)
    for blob, digest, _, _ in blobs:
        target = f"{layout}/blobs/sha256/{digest[7:]}"
        if isinstance(blob, bytes) and not os.path.exists(target):
            open(target, "wb").write(blob)
        elif not isinstance(blob, bytes):
            os.link(blob, target)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [b[3] for b in blobs]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": media, "digest": d, "size": s} for _, d, s, _ in blobs]}).encode()
    for data in (config, manifest):
        open(f"{layout}/blobs/sha256/{sha(data)[7:]}", "wb").write(data)
    open(f"{layout}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(manifest), "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "bench"}}]},
        open(f"{layout}/index.json", "w"))

gz = "application/vnd.oci.image.layer.v1.tar+gzip"
base = []
for i in range(layers):
    data = tar_of(f"layer{i}.bin", os.urandom(layer_mb << 20))
    blob = gzip.compress(data, compresslevel=1, mtime=0)
    base.append((blob, sha(blob), len(blob), sha(data)))
for version in ("v1", "v2"):
    data = tar_of("app/main.py", f"print('{version}')\n".encode())
    blob = gzip.compress(data, mtime=0)
    write(f"{work}/{version}", base + [(blob, sha(blob), len(blob), sha(data))], gz)

# The big layer is streamed to disk in 8 MiB pieces so that this script stays small too.
tar_path = f"{work}/big.tar"
digest, diff = hashlib.sha256(), None
with open(tar_path, "wb") as out:
    header = tarfile.TarInfo("big.bin")
    header.size, header.mtime = big_mb << 20, 0
    head = header.tobuf(format=tarfile.USTAR_FORMAT)
    out.write(head); digest.update(head)
    for _ in range(big_mb // 8):
        chunk = os.urandom(8 << 20)
        out.write(chunk); digest.update(chunk)
    tail = b"\0" * 1024
    out.write(tail); digest.update(tail)
size = os.path.getsize(tar_path)
d = "sha256:" + digest.hexdigest()
write(f"{work}/big", [(tar_path, d, size, d)], "application/vnd.oci.image.layer.v1.tar")
PY

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
# Bytes of blobs uploaded since access-log line $1 for the layout $2.
uploaded_bytes() {
  python3 - "$log" "$1" "$2" <<'PY'
import json, os, re, sys
log, since, layout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(log, errors="replace").read().splitlines()[since:]
sizes = {}
for name in os.listdir(f"{layout}/blobs/sha256"):
    sizes["sha256:" + name] = os.path.getsize(f"{layout}/blobs/sha256/{name}")
total = 0
for line in lines:
    m = re.search(r'"PUT (\S+) HTTP/[\d.]+" 201', line)
    if m and "/blobs/uploads/" in m.group(1):
        total += sizes.get(m.group(1).split("digest=")[1].replace("%3A", ":"), 0)
print(total)
PY
}
log_lines() { wc -l <"$log"; }

declare -A best_time best_bytes
run_tool() { # tool repo layout -> sets last_time last_bytes
  local tool=$1 repo=$2 layout=$3 mark start end
  mark=$(log_lines)
  start=$(now)
  case $tool in
    sematic) "$push" --layout "$layout" --repository "$registry/$repo" --tag bench --progress quiet >/dev/null 2>"$work/last.err" ;;
    skopeo) skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "docker://$registry/$repo:bench" >/dev/null 2>"$work/last.err" ;;
  esac
  end=$(now)
  last_time=$(elapsed "$start" "$end")
  last_bytes=$(uploaded_bytes "$mark" "$layout")
}
record() { # key
  if [[ -z "${best_time[$1]:-}" ]] || python3 -c "import sys; sys.exit(0 if $last_time < ${best_time[$1]} else 1)"; then
    best_time[$1]=$last_time
    best_bytes[$1]=$last_bytes
  fi
}

for ((run = 1; run <= runs; run++)); do
  for tool in skopeo sematic; do
    fresh_registry "$tool-$run"
    run_tool "$tool" "bench/app" "$work/v1"
    record "first-$tool"
    echo "push_bench.sh: first push, $tool, run $run: ${last_time}s, ${last_bytes} bytes" >&2
    run_tool "$tool" "bench/app" "$work/v2"
    record "incremental-$tool"
    echo "push_bench.sh: incremental push, $tool, run $run: ${last_time}s, ${last_bytes} bytes" >&2
  done
done

fresh_registry big
/usr/bin/time -v "$push" --layout "$work/big" --repository "$registry/bench/big" --progress quiet \
  >/dev/null 2>"$work/big.time"
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/big.time")
big_wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/big.time")
big_cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {printf "%.2f", s}' "$work/big.time")

ratio=$(python3 -c "print(f\"{${best_time[first-skopeo]} / ${best_time[first-sematic]}:.2f}\")")
image_mb=$(du -sm "$work/v1" | cut -f1)
cat <<EOF
| measurement | sematic-push | skopeo copy | target |
|---|---|---|---|
| first push, $((layers + 1)) layers, ${image_mb} MB (best of $runs) | ${best_time[first-sematic]} s, ${best_bytes[first-sematic]} B | ${best_time[first-skopeo]} s, ${best_bytes[first-skopeo]} B | ≥ 1.5× skopeo: ${ratio}× |
| incremental push, one small layer changed (best of $runs) | ${best_time[incremental-sematic]} s, ${best_bytes[incremental-sematic]} B | ${best_time[incremental-skopeo]} s, ${best_bytes[incremental-skopeo]} B | < 1 s |
| peak RSS pushing one ${big_mb} MiB layer | $((rss_kb / 1024)) MB (wall ${big_wall}, CPU ${big_cpu} s) | — | ≤ 64 MB |
EOF
