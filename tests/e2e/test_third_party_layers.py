"""Third-party code in layers: each distribution is compressed once, into a piece every image,
key and pipeline shares; a dependency bump rewrites the bucket of that distribution only; a
distribution far larger than its largest file is split by file into layers."""

import os
import subprocess
from pathlib import Path

import pytest

from harness.bazel import Bazel
from harness.containers import entrypoint, runc_run, unpack
from harness.images import blob_path, layers_with_history
from harness.wheels import index_workspace, lock_line, make_wheel, write_index

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout


def actions(bazel: Bazel, mnemonic: str, *targets: str) -> int:
    """How many `mnemonic` actions building `targets` takes."""
    query = f'mnemonic("{mnemonic}", deps({" + ".join(targets)}))'
    return bazel.run("aquery", "--output=text", query).stdout.count(f"Mnemonic: {mnemonic}")


HELLO = "//examples/hello:main_default_image"
MULTI = ["//examples/multi:main_default_image", "//examples/multi:main_cuda_image"]


def test_every_key_and_pipeline_shares_the_distributions_pieces(repo_bazel):
    alone = actions(repo_bazel, "SematicPiece", HELLO)
    together = actions(repo_bazel, "SematicPiece", HELLO, *MULTI)
    # Every wheel has a gzip and a zstd piece action (only the one an image uses runs).
    assert alone > 150 and alone % 2 == 0, alone
    assert together == alone, "keys and pipelines sharing dependencies must share pieces"


def test_the_keys_of_a_pipeline_assemble_each_bucket_once(repo_bazel):
    one_key = actions(repo_bazel, "SematicAssembleLayer", MULTI[0])
    # sematic's ~100 distributions fill most of the 32 buckets.
    assert one_key > 20, one_key
    assert actions(repo_bazel, "SematicAssembleLayer", *MULTI) == one_key, \
        "the keys of a pipeline must share its bucket layers"


BUILD = """\
load("@rules_python//python:defs.bzl", "py_binary")
load("@local//:requirements.bzl", "requirement")
load("@rules_sematic//:pipeline.bzl", "sematic_image")

py_binary(name = "app", srcs = ["app.py"], deps = [requirement(n) for n in ["alpha", "beta", "gamma"]], legacy_create_init = False)

sematic_image(name = "image", base = "@rules_sematic//images:python3", binary = ":app")
"""


def test_bumping_one_pin_rewrites_its_bucket_only(tmp_path):
    wheels = tmp_path / "wheels"
    made = {
        (name, version): make_wheel(wheels, name, version, "py3-none-any",
                                    {f"{name}/__init__.py": f"VERSION = {version!r}\n" + "# filler\n" * 20000})
        for name, version in [("alpha", "1.0"), ("beta", "1.0"), ("beta", "1.1"), ("gamma", "1.0")]
    }
    index = write_index(tmp_path / "index", list(made.values()))
    workspace = tmp_path / "workspace"
    index_workspace(workspace, "bump", "local", index, BUILD, {"app.py": "import alpha, beta, gamma\n"})

    def image(beta: str) -> dict:
        lock = "".join(lock_line(name, version, [made[(name, version)]])
                       for name, version in [("alpha", "1.0"), ("beta", beta), ("gamma", "1.0")])
        (workspace / "lock.txt").write_text(lock)
        bazel.run("run", "@local//:lock")
        return {h: (layer["digest"], layer["size"]) for h, layer in layers_with_history(*bazel.image("//:image"))}

    bazel = Bazel(workspace)
    try:
        before, after = image("1.0"), image("1.1")
    finally:
        bazel.shutdown()
    changed = sorted(h for h in before if before[h] != after.get(h))
    buckets = [h for h in changed if "third-party code, bucket" in h]
    assert len(buckets) == 1, changed
    # Besides beta's bucket, only the runfiles links and the launcher (which names the
    # repositories) change: a few kilobytes.
    assert set(changed) - set(buckets) == {"rules_sematic: runfiles links to third-party code",
                                           "rules_sematic: first-party code of //:app"}, changed
    small = sum(after[h][1] for h in changed if h not in buckets)
    assert small < 20_000, small
    assert after[buckets[0]][1] < 2 * Path(made[("beta", "1.1")]).stat().st_size + 20_000


SPLIT_BUILD = """\
load("@rules_python//python:defs.bzl", "py_binary")
load("@local//:requirements.bzl", "requirement")
load("@rules_sematic//:pipeline.bzl", "sematic_image")

py_binary(name = "app", srcs = ["app.py"], deps = [requirement("heavy")], legacy_create_init = False)

sematic_image(name = "split", base = "@rules_sematic//images:python3", binary = ":app")

sematic_image(name = "whole", base = "@rules_sematic//images:python3", binary = ":app", split_large_distributions = False)
"""

# Six libraries of 70 MiB: 420 MiB installed, 1.6 parts of 256 MiB, so two parts.
HEAVY_LIBRARIES = 6
HEAVY_LIBRARY_BYTES = 70 << 20
APP = """\
import heavy, os
root = os.path.dirname(heavy.__file__)
print(sorted((name, os.path.getsize(os.path.join(root, name))) for name in os.listdir(root) if name.endswith((".so", ".py"))))
"""


def filesystem(root: Path) -> dict:
    """{relative path: (mode, size)} of everything below `root`, directories included."""
    found = {}
    for directory, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(directory) / name
            info = path.lstat()
            found[str(path.relative_to(root))] = (info.st_mode, info.st_size if path.is_file() else 0)
    return found


def test_a_distribution_far_larger_than_its_largest_file_is_split_into_layers(tmp_path):
    files = {f"heavy/lib{i}.so": bytes([i]) * HEAVY_LIBRARY_BYTES for i in range(HEAVY_LIBRARIES)}
    files["heavy/__init__.py"] = "NAME = 'heavy'\n"
    wheel = make_wheel(tmp_path / "wheels", "heavy", "1.0", "py3-none-any", files)
    del files
    index = write_index(tmp_path / "index", [wheel])
    workspace = tmp_path / "workspace"
    index_workspace(workspace, "split", "local", index, SPLIT_BUILD, {"app.py": APP})
    (workspace / "lock.txt").write_text(lock_line("heavy", "1.0", [wheel]))
    bazel = Bazel(workspace)
    try:
        bazel.run("run", "@local//:lock")
        check_split_images(bazel.image("//:split"), bazel.image("//:whole"), tmp_path)
    finally:
        bazel.shutdown()


def check_split_images(split, whole, tmp_path):
    """`split` has heavy's layer in two parts holding what `whole`'s one layer holds."""
    def heavy_layers(image):
        return {h: layer for h, layer in layers_with_history(*image) if h.startswith("rules_sematic: heavy 1.0")}

    assert list(heavy_layers(whole)) == ["rules_sematic: heavy 1.0"]
    parts = heavy_layers(split)
    assert list(parts) == ["rules_sematic: heavy 1.0 (part 1 of 2)", "rules_sematic: heavy 1.0 (part 2 of 2)"]
    # Balanced by bytes: the libraries go 3 and 3 (by name when sizes tie).
    listings = []
    for layer in parts.values():
        listing = subprocess.run(["tar", "-tzf", str(blob_path(split[0], layer["digest"]))], check=True,
                                 capture_output=True, text=True).stdout.split()
        listings.append(sorted(n.rsplit("/", 1)[1] for n in listing if n.endswith(".so")))
    assert listings == [["lib0.so", "lib2.so", "lib4.so"], ["lib1.so", "lib3.so", "lib5.so"]]

    # The split image's filesystem is the unsplit one's, and the app sees every file.
    bundles = {name: unpack(image[0], "latest", tmp_path / name) for name, image in [("split", split), ("whole", whole)]}
    assert filesystem(bundles["split"] / "rootfs") == filesystem(bundles["whole"] / "rootfs")
    result = runc_run(bundles["split"], entrypoint(bundles["split"]))
    assert result.returncode == 0, result.stderr[-2000:]
    expected = sorted([(f"lib{i}.so", HEAVY_LIBRARY_BYTES) for i in range(HEAVY_LIBRARIES)] + [("__init__.py", 15)])
    assert result.stdout.strip().splitlines()[-1] == repr(expected)
