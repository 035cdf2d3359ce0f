"""The golden images' digests are the ones checked in (tests/golden/digests.json).

    golden_test.py --golden digests.json --mode bzlmod|workspace NAME='LAYOUT PATHS' ...
    bazel run //tests/golden:golden_test -- --update     rewrites digests.json in the source tree

On a mismatch it names each layer that changed by its history comment, so a reviewer sees
whether the change was meant (then: tools/update_golden.sh, and commit digests.json).
"""

import argparse
import json
import os
import sys
from pathlib import Path

UPDATE_HINT = "if the change is intended, run tools/update_golden.sh and commit tests/golden/digests.json"


def read_json(layout: Path, digest: str):
    return json.loads((layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes())


def describe(paths: str) -> dict:
    """What the golden file records of an image: manifest, config, and every layer."""
    # `bazel test` and `bazel run` both start it in the runfiles tree, where rootpaths resolve.
    layout = next(Path(p) for p in paths.split() if Path(p).is_dir())
    (entry,) = json.loads((layout / "index.json").read_bytes())["manifests"]
    manifest = read_json(layout, entry["digest"])
    config = read_json(layout, manifest["config"]["digest"])
    history = [h.get("created_by", "") for h in config["history"] if not h.get("empty_layer")]
    return {
        "manifest": entry["digest"],
        "config": manifest["config"]["digest"],
        "layers": [
            {"history": comment, "digest": layer["digest"], "diff_id": diff_id}
            for comment, layer, diff_id in zip(history, manifest["layers"], config["rootfs"]["diff_ids"], strict=True)
        ],
    }


def differences(name: str, expected: dict, actual: dict) -> list:
    if expected is None:
        return [f"{name}: no golden digests recorded"]
    found = [f"{name}: {field} {expected[field]} is now {actual[field]}"
             for field in ("manifest", "config") if expected[field] != actual[field]]
    before = {layer["history"]: layer for layer in expected["layers"]}
    after = {layer["history"]: layer for layer in actual["layers"]}
    for comment in sorted(before.keys() | after.keys()):
        if before.get(comment) != after.get(comment):
            was = before.get(comment, {}).get("digest", "absent")
            now = after.get(comment, {}).get("digest", "absent")
            found.append(f"{name}: layer {comment!r}: {was} is now {now}")
    if not found and expected != actual:
        found.append(f"{name}: the layers' order changed")
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--golden", required=True)
    parser.add_argument("--mode", required=True, choices=("bzlmod", "workspace"))
    parser.add_argument("--update", action="store_true")
    parser.add_argument("images", nargs="+", help="NAME='LAYOUT PATHS'")
    args = parser.parse_args()
    actual = {name: describe(paths) for name, paths in (image.split("=", 1) for image in args.images)}

    if args.update:
        source = Path(os.environ["BUILD_WORKSPACE_DIRECTORY"]) / "tests/golden/digests.json"
        golden = json.loads(source.read_text()) if source.exists() else {}
        golden[args.mode] = actual
        source.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
        print(f"wrote the {args.mode} digests to {source}")
        return 0

    golden = json.loads(Path(args.golden).read_text()).get(args.mode, {})
    found = [line for name in sorted(actual) for line in differences(name, golden.get(name), actual[name])]
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"FAIL: {len(found)} golden digest(s) differ under {args.mode}: {UPDATE_HINT}", file=sys.stderr)
        return 1
    print(f"{len(actual)} images match their golden digests ({args.mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
