"""Sparse layouts: base layers absent from the layout are mounted (same registry) or streamed
(another registry) from the source the layout's index annotation names, never via disk."""

import json
import os

from harness.fixtures import assert_one_line_error, parse_summary, skopeo_copy_back
from harness.images import SOURCE_ANNOTATION, layer, random_layer, tree_snapshot, write_layout


def push_base(tools, registry, tmp_path):
    base = write_layout(tmp_path / "base", [random_layer(300_000, seed) for seed in range(3)])
    result = tools.push(base.layout, f"{registry.host}/base/python", "--tag", "3.11")
    assert result.returncode == 0, result.stderr
    return base


def test_base_blobs_are_mounted_within_a_registry_and_streamed_across(tools, make_registry, tmp_path):
    first, second = make_registry(), make_registry()
    base = push_base(tools, first, tmp_path)
    app = write_layout(tmp_path / "app", [layer({"app/main.py": b"print(1)\n"})], base=base,
                       source=f"{first.host}/base/python")
    before = tree_snapshot(app.layout)
    workdir = tmp_path / "cwd"
    workdir.mkdir()

    mark = len(first.access_log())
    result = tools.push(app.layout, f"{first.host}/app/x", "--tag", "t", cwd=workdir)
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert (summary["mounted"], summary["uploaded"], summary["streamed"]) == (3, 2, 0)
    mounts = [a for a in first.access_log()[mark:] if a.method == "POST" and "mount=" in a.path]
    assert len(mounts) == 3 and all(a.status == 201 for a in mounts)
    assert skopeo_copy_back(first.host, "app/x:t", tmp_path / "copy1") == app.digest

    mark = len(first.access_log())
    result = tools.push(app.layout, f"{second.host}/app/x", "--tag", "t", cwd=workdir)
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert (summary["streamed"], summary["uploaded"], summary["mounted"]) == (3, 2, 0)
    assert len(first.blob_reads("base/python", mark)) == 3
    assert all(second.has_blob("app/x", l.digest) for l in base.layers)
    assert skopeo_copy_back(second.host, "app/x:t", tmp_path / "copy2") == app.digest

    assert tree_snapshot(app.layout) == before
    assert list(workdir.iterdir()) == []


def test_missing_blob_without_source_is_a_clear_error(tools, registry, tmp_path):
    base = push_base(tools, registry, tmp_path)
    app = write_layout(tmp_path / "app", [layer({"x": b"x"})], base=base)  # no source
    result = tools.push(app.layout, f"{registry.host}/app/nosource", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: preparing {app.layout} for push: blob {base.layers[0].digest} is "
                    f"missing from layout {app.layout} and its index.json names no source repository "
                    f"({SOURCE_ANNOTATION} annotation) to take it from")
    assert registry.tags("app/nosource") == []


def test_pulled_shallow_base_pushes_by_mount_and_full_pull_round_trips(tools, registry, tmp_path):
    base = push_base(tools, registry, tmp_path)
    shallow = tmp_path / "pulled"
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/python@{base.digest}",
                       "--output", shallow)
    assert result.returncode == 0, result.stderr
    index = json.loads((shallow / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["digest"] == base.digest
    assert entry["annotations"][SOURCE_ANNOTATION] == f"{registry.host}/base/python"
    blobs = sorted(p.name for p in (shallow / "blobs" / "sha256").iterdir())
    assert blobs == sorted([base.digest[7:], base.config_digest[7:]])

    result = tools.push(shallow, f"{registry.host}/mirror/python", "--tag", "m")
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert (summary["mounted"], summary["uploaded"]) == (3, 1)

    full = tmp_path / "full"
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/python@{base.digest}",
                       "--output", full, "--layers", "all")
    assert result.returncode == 0, result.stderr
    for l in base.layers:
        assert (full / "blobs" / "sha256" / l.digest[7:]).read_bytes() == l.blob
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_pull_replaces_its_output_and_clears_what_killed_runs_left(tools, registry, tmp_path):
    base = push_base(tools, registry, tmp_path)
    output = tmp_path / "pulled"
    (output / "old").mkdir(parents=True)
    # A run killed midway (its process is gone) and one still going (this test's process).
    dead = tmp_path / ".pulled.tmp-4194305-x1"
    live = tmp_path / f".pulled.tmp-{os.getpid()}-x2"
    dead.mkdir()
    live.mkdir()
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/python@{base.digest}",
                       "--output", output)
    assert result.returncode == 0, result.stderr
    assert not (output / "old").exists() and (output / "index.json").exists()
    assert not dead.exists() and live.exists()
