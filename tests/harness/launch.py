"""Running sematic-launch on a runfiles tree made for the test: a launch script that dumps its
arguments and environment, one layout per image key, and the LAUNCH.json naming them."""

import json
import subprocess

from .images import write_layout

LAUNCH_SCRIPT = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["DUMP_FILE"], "w") as out:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid()}, out)
"""

BINARY = "_main/examples/hello/main_launch"


def make_runfiles(tmp_path, images: dict, repositories: dict, tags=None, insecure=False):
    """A runfiles tree with the launch script, one layout per key and LAUNCH.json. `images`
    maps a key to its layers, or to a function writing its layout at a path (returning an
    object with the `digest` a push gives it)."""
    runfiles = tmp_path / "runfiles"
    script = runfiles / BINARY
    script.parent.mkdir(parents=True)
    script.write_text(LAUNCH_SCRIPT)
    script.chmod(0o755)
    entries = []
    for key, image_layers in images.items():
        relative = f"_main/examples/hello/main_{key}_image"
        layout = runfiles / relative
        image = image_layers(layout) if callable(image_layers) else write_layout(layout, image_layers)
        entries.append({"key": key, "layout": relative, "repository": repositories[key],
                        "tags": tags or [f"main_{key}"], "insecure": insecure, "_digest": image.digest})
    config = {"launch_binary": BINARY,
              "images": [{k: v for k, v in e.items() if k != "_digest"} for e in entries]}
    (runfiles / "_main/examples/hello/main_launch.json").write_text(json.dumps(config))
    return runfiles, {e["key"]: e["_digest"] for e in entries}


def launch(tools, runfiles, tmp_path, *args, env=None, server_check=False):
    """Runs sematic-launch on the tree; returns (the process result, what the launch script
    dumped or None if it never ran, the launch process's PID). The launch script submits
    nothing, so no Sematic server is asked for unless `server_check`."""
    dump = tmp_path / "dump.json"
    environment = {"DUMP_FILE": str(dump), "SEMATIC_CONTAINER_IMAGE": "stale-from-parent",
                   "SEMATIC_CONTAINER_IMAGE_URIS": "::stale##x"}
    environment.update(env or {})
    merged = {**tools.env, **environment}
    process = subprocess.Popen(
        [str(tools.path("sematic-launch")), "--runfiles-dir", str(runfiles),
         "--config", "_main/examples/hello/main_launch.json", "--progress", "plain",
         *([] if server_check else ["--no-server-check"]), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=merged)
    stdout, stderr = process.communicate(timeout=300)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    dumped = json.loads(dump.read_text()) if dump.exists() else None
    return result, dumped, process.pid
