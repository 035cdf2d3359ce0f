#!/usr/bin/env python3
"""Benchmark (m): the first push of the torch-scale image over an emulated link. A network
namespace holds a docker-registry; this machine reaches it through an emulated link of 50 ms
round trip and 1 Gbit/s (benchmarks/emulated_link.py: this kernel has no `tc netem`), with
Linux's default TCP buffers on both ends, so one TCP connection carries about 50 MB/s and only
several in parallel fill the link: what a registry in another region looks like. Side by side,
interleaved rounds, each push into an empty registry:

  skopeo:       `skopeo copy oci:LAYOUT docker://REGISTRY/...` (containers/image, as `podman
                push`; like go-containerregistry, which rules_oci and rules_img push with, it
                sends each layer in one stream)
  rules_sematic: `sematic-push --layout LAYOUT` with its defaults (--jobs 4)
  unsplit:      the same push of the same image built with `split_large_distributions =
                False`: each distribution in one layer (torch's 0.9 GB among them)
  torch alone:  each of them pushing the layers of the image's largest distribution alone into
                a repository holding the rest (what a bump of torch pushes): one layer, at one
                connection's rate, unless split
  cuts:         rules_sematic again, with the link dropping every packet for --cut seconds once
                40 % of the image has gone over it, and `--timeout 10` so that the broken
                requests are abandoned and resumed: the bytes sent beyond a clean push's; into
                docker-registry, then into docker-registry behind nginx (which buffers request
                bodies, so a broken request never reaches the registry)

The image is benchmark (h)'s (sematic 0.41 + torch 2.5 with its CUDA wheels, ~3.1 GB), built
in a scratch workspace under --work (its lock.txt reused when present) split and unsplit, or
any OCI layout given with --layout (then no unsplit push). Needs root (namespaces, TUN devices), skopeo and docker-registry. Not run by CI.

    benchmarks/link_push.py [--rounds 3] [--work DIR | --layout DIR] [--rtt-ms 50] [--mbit 1000]
                            [--cut 20] [--baseline-push OLD/sematic-push]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

from emulated_link import EmulatedLink
from torch_scale import BUILD as TORCH_BUILD, PINS, compile_lock, install_uv, scratch_workspace, use_lock
from harness.images import read_blob_json  # noqa: E402 (torch_scale sets the path)
from harness.tools import tools_bin_dir  # noqa: E402
from timing import timed  # noqa: E402

PORT = 5000
# sematic-push's default --jobs: the transfers in flight when the link is cut.
JOBS = 4
# Where containers/image (skopeo) keeps, for root, the registries it has seen each blob in.
BLOB_INFO_CACHE = "/var/lib/containers/cache"


# Benchmark (h)'s workspace, plus its one-key pipeline with every distribution in one layer.
BUILD = TORCH_BUILD + """
sematic_pipeline(name = "unsplit", base = "@rules_sematic//images:python3", deps = [":steps"], registry = "{registry}", repository = "bench/unsplit", split_large_distributions = False)
"""


def image_facts(layout: Path) -> dict:
    """A one-image layout's blob bytes (config and layers), layer count, largest layer, and the
    layers (digest, size) of the distribution that layer belongs to (all its parts)."""
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = read_blob_json(layout, manifest_digest)
    config = read_blob_json(layout, manifest["config"]["digest"])
    history = [h["created_by"] for h in config["history"] if not h.get("empty_layer")]
    sizes = [manifest["config"]["size"]] + [layer["size"] for layer in manifest["layers"]]
    layers = [(h.split(" (part ")[0], layer["digest"], layer["size"]) for h, layer in zip(history, manifest["layers"])]
    largest = max(layers, key=lambda layer: layer[2])
    return {"bytes": sum(sizes), "layers": len(layers), "manifest": manifest_digest,
            "largest": largest[1:], "distribution": largest[0].split(": ", 1)[-1],
            "its_layers": [(digest, size) for what, digest, size in layers if what == largest[0]]}


NGINX = """\
daemon off;
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    client_max_body_size 0;
    server {{
        listen {listen};
        location / {{
            proxy_pass http://{upstream};
            proxy_set_header Host $http_host;
            proxy_read_timeout 600s;
        }}
    }}
}}
"""


class FarRegistry:
    """A docker-registry with empty storage, listening in the link's far namespace; with
    `buffered`, behind nginx (its default request buffering: a broken request never reaches
    the registry)."""

    def __init__(self, link: EmulatedLink, directory: Path, buffered: bool = False):
        self.link, self.directory, self.buffered = link, directory, buffered
        self.host = f"{link.far}:{PORT}"
        self.processes = []

    def __enter__(self):
        shutil.rmtree(self.directory, ignore_errors=True)
        (self.directory / "tmp").mkdir(parents=True)
        self.log = (self.directory / "servers.log").open("w")
        try:
            registry_address = f"127.0.0.1:{PORT + 1}" if self.buffered else self.host
            config = self.directory / "config.yml"
            config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: "
                              f"{self.directory}/data}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {registry_address}\n"
                              f"  secret: link-bench\n")
            self._start(["docker-registry", "serve", str(config)])
            if self.buffered:
                (self.directory / "nginx.conf").write_text(
                    NGINX.format(root=self.directory, listen=self.host, upstream=registry_address))
                self._start(["nginx", "-p", str(self.directory), "-e", str(self.directory / "nginx-error.log"),
                             "-c", str(self.directory / "nginx.conf")])
            self._wait()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self, command: list):
        self.processes.append(subprocess.Popen(["ip", "netns", "exec", self.link.namespace, *command],
                                               stdout=self.log, stderr=subprocess.STDOUT))

    def _wait(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes):
                raise RuntimeError(f"a server exited: {(self.directory / 'servers.log').read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"no registry answered on {self.host} within 30 s")

    def __exit__(self, *_):
        for process in reversed(self.processes):
            process.terminate()
            process.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def over_link(link: EmulatedLink, command: list, cut_seconds: float = 0.0, cut_at: int = 0) -> dict:
    """Runs `command` (a push); its seconds and the bytes that crossed the link toward the
    registry. With `cut_seconds`, the link drops everything for that long once `cut_at` bytes
    have crossed."""
    sent_before = link.outbound.bytes
    cut = {}

    def cutter(done: threading.Event):
        while not done.is_set():
            if link.outbound.bytes - sent_before >= cut_at:
                cut["at"] = link.outbound.bytes - sent_before
                link.cut(cut_seconds)
                return
            time.sleep(0.05)

    done = threading.Event()
    if cut_seconds:
        threading.Thread(target=cutter, args=(done,), daemon=True).start()
    seconds, result = timed(subprocess.run, command, capture_output=True, text=True)
    done.set()
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr[-2000:]}")
    return {"seconds": seconds, "sent": link.outbound.bytes - sent_before, "stderr": result.stderr,
            "cut_at": cut.get("at")}


def torch_layouts(work: Path) -> tuple:
    """Builds benchmark (h)'s one-key image in a scratch workspace under `work`, split (the
    default) and unsplit; their layouts, copied out of the output base (which is then removed)."""
    lock = work / "lock.txt"
    lock_text = lock.read_text() if lock.exists() else compile_lock(install_uv(work), work, PINS)
    shutil.rmtree(work / "workspace", ignore_errors=True)
    # The BUILD names a registry; nothing is pushed to it.
    bazel = scratch_workspace(work, SimpleNamespace(host="127.0.0.1:5999"), BUILD, pipelines=("one", "two", "unsplit"))
    try:
        use_lock(bazel, lock_text)
        copies = []
        for target, name in (("//:one_default_image", "layout"), ("//:unsplit_default_image", "layout-unsplit")):
            layout, _ = bazel.image(target)
            copy = work / name
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(layout, copy)
            copies.append(copy)
        return tuple(copies)
    finally:
        bazel.shutdown()


def push_command(tool: Path, layout: Path, repository: str, *extra) -> list:
    """The command pushing `layout` to `repository` (REGISTRY/REPO) with `tool`: "skopeo" or
    a sematic-push binary."""
    if str(tool) == "skopeo":
        # An empty blob-info cache each time, as on a first push: the machine's would send
        # skopeo looking for each blob in the previous rounds' repositories.
        return ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs tmpfs "$0" && exec "$@"', BLOB_INFO_CACHE,
                "skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}", f"docker://{repository}:t"]
    return [str(tool), "--layout", str(layout), "--repository", repository, "--tag", "t", "--insecure",
            "--progress", "quiet", *extra]


def clean_pushes(link: EmulatedLink, work: Path, pushes: dict, rounds: int) -> dict:
    """Each push (kind -> (tool, layout)) in interleaved rounds, each into an empty registry."""
    runs = {kind: [] for kind in pushes}
    for round_ in range(rounds):
        for kind, (tool, layout) in pushes.items():
            with FarRegistry(link, work / "far-registry") as registry:
                run = over_link(link, push_command(tool, layout, f"{registry.host}/bench/{kind}-{round_}"))
            runs[kind].append(run)
            print(f"round {round_ + 1} {kind:<14} {run['seconds']:6.1f}s  {run['sent'] / 1e6:8.1f} MB over the link",
                  flush=True)
    return runs


def delete(host: str, repository: str, kind: str, digest: str):
    """Deletes a manifest or blob (`kind`) from `repository` of the registry at `host`."""
    request = urllib.request.Request(f"http://{host}/v2/{repository}/{kind}/{digest}", method="DELETE")
    urllib.request.urlopen(request, timeout=30).close()


def lone_distribution_pushes(link: EmulatedLink, work: Path, pushes: dict, rounds: int) -> dict:
    """Each push (kind -> (tool, layout)) of the layers of its image's largest distribution
    alone, as after a bump of it: the image is pushed, its manifest and those layers deleted
    from the repository, and the image pushed again."""
    ours = pushes["rules_sematic"][0]
    runs = {kind: [] for kind in pushes}
    for round_ in range(rounds):
        for kind, (tool, layout) in pushes.items():
            image = image_facts(layout)
            with FarRegistry(link, work / "far-registry") as registry:
                repository = f"bench/lone-{kind}"
                over_link(link, push_command(ours, layout, f"{registry.host}/{repository}"))
                delete(registry.host, repository, "manifests", image["manifest"])
                for digest, _ in image["its_layers"]:
                    delete(registry.host, repository, "blobs", digest)
                run = over_link(link, push_command(tool, layout, f"{registry.host}/{repository}"))
            run["bytes"] = sum(size for _, size in image["its_layers"])
            run["layers"] = len(image["its_layers"])
            runs[kind].append(run)
            print(f"round {round_ + 1} {image['distribution']} alone, {kind:<14} {run['seconds']:6.1f}s  "
                  f"{run['sent'] / 1e6:8.1f} MB over the link", flush=True)
    return runs


def cut_pushes(link: EmulatedLink, work: Path, layout: Path, tool: Path, seconds: float, at: int) -> dict:
    """A push with `tool` during which the link is cut for `seconds` once `at` bytes have
    crossed it, into docker-registry alone and behind nginx."""
    cuts = {}
    for label, buffered in (("docker-registry", False), ("docker-registry behind nginx", True)):
        with FarRegistry(link, work / "far-registry", buffered) as registry:
            command = push_command(tool, layout, f"{registry.host}/bench/cut", "--timeout", "10")
            cut = over_link(link, command, cut_seconds=seconds, cut_at=at)
        cuts[label] = cut
        retries = [line for line in cut["stderr"].splitlines() if line.startswith("registry:")]
        print(f"cut {seconds:.0f}s at {cut['cut_at'] / 1e6:.0f} MB, {label}: {cut['seconds']:.1f}s, "
              f"{cut['sent'] / 1e6:.1f} MB over the link; {len(retries)} retry lines", flush=True)
        for line in retries:
            print(f"  {line[:220]}")
    return cuts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="pushes of each kind (median printed)")
    parser.add_argument("--work", type=Path, help="work directory, kept afterwards (default: a temporary one)")
    parser.add_argument("--layout", type=Path, help="push this OCI layout instead of building the torch-scale image")
    parser.add_argument("--rtt-ms", type=float, default=50)
    parser.add_argument("--mbit", type=float, default=1000)
    parser.add_argument("--cut", type=float, default=20, help="seconds the link is cut in each cut push (0: no cut pushes)")
    parser.add_argument("--baseline-push", type=Path,
                        help="another sematic-push binary (an earlier commit's) to push with too, as 'baseline'")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: it creates a network namespace and TUN devices")
    missing = [tool for tool in ("skopeo", "docker-registry", "nginx", "ip", "unshare") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"needs {', '.join(missing)} (tools/bootstrap.sh)")
    tmp = None
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-link-", dir=os.environ.get("BENCH_TMP", "/var/tmp"))
    work = args.work or Path(tmp.name)
    try:
        layout, unsplit = (args.layout, None) if args.layout else torch_layouts(work)
        image = image_facts(layout)
        total = image["bytes"]
        ours = tools_bin_dir() / "sematic-push"
        pushes = {"skopeo": (Path("skopeo"), layout), "rules_sematic": (ours, layout)}
        if unsplit:
            pushes["unsplit"] = (ours, unsplit)
        if args.baseline_push:
            pushes["baseline"] = (args.baseline_push, layout)
        started, load_before = time.strftime("%H:%M"), os.getloadavg()
        with EmulatedLink(rtt_ms=args.rtt_ms, rate_mbit=args.mbit) as link:
            runs = clean_pushes(link, work, pushes, args.rounds)
            lone = lone_distribution_pushes(link, work, pushes, args.rounds)
            cuts = cut_pushes(link, work, layout, ours, args.cut, int(0.4 * total)) if args.cut else {}
            dropped = link.outbound.dropped
        unsplit_facts = image_facts(unsplit) if unsplit else None
    finally:
        if tmp:
            tmp.cleanup()

    median = {kind: statistics.median(r["seconds"] for r in results) for kind, results in runs.items()}
    clean_sent = statistics.median(r["sent"] for r in runs["rules_sematic"])
    print(f"\nbenchmark (m): first push over an emulated link ({args.rtt_ms:.0f} ms round trip, {args.mbit:.0f} Mbit/s, "
          f"default TCP buffers), {time.strftime('%Y-%m-%d')} {started}-{time.strftime('%H:%M')} UTC, load "
          f"{load_before[0]:.2f} before / {os.getloadavg()[0]:.2f} after, {os.cpu_count()} cores; median of {args.rounds}")
    print(f"image: {total / 1e9:.2f} GB compressed, {image['layers']} layers, the largest {image['largest'][1] / 1e6:.0f} MB "
          f"({image['distribution']} in {len(image['its_layers'])} layers); the link dropped {dropped} packets toward the registry")
    if unsplit_facts:
        print(f"unsplit: {unsplit_facts['layers']} layers, the largest {unsplit_facts['largest'][1] / 1e6:.0f} MB")
    for kind, seconds in median.items():
        print(f"{kind:<40}{seconds:8.1f}s  {total / seconds / 1e6:6.1f} MB/s of blobs")
    print(f"rules_sematic is {median['skopeo'] / median['rules_sematic']:.2f}x faster than skopeo copy (goal >= 2x)")
    if "unsplit" in median:
        print(f"rules_sematic split takes {median['rules_sematic'] / median['unsplit']:.2f}x the unsplit push's time")
    if "baseline" in median:
        print(f"rules_sematic takes {median['rules_sematic'] / median['baseline']:.2f}x the baseline's time")
    print(f"the layers of {image['distribution']} alone (what a bump of it pushes):")
    lone_median = {}
    for kind, results in lone.items():
        lone_median[kind] = statistics.median(r["seconds"] for r in results)
        size, count = results[0]["bytes"], results[0]["layers"]
        print(f"  {kind:<38}{lone_median[kind]:8.1f}s  {size / 1e6:6.0f} MB in {count} layer(s), "
              f"{size / lone_median[kind] / 1e6:6.1f} MB/s")
    if "unsplit" in lone_median:
        print(f"  split: {lone_median['unsplit'] / lone_median['rules_sematic']:.2f}x faster than unsplit")
    for label, cut in cuts.items():
        extra = cut["sent"] - clean_sent
        print(f"a {args.cut:.0f} s cut at {cut['cut_at'] / 1e6:.0f} MB, {label}: {cut['seconds']:.1f}s, "
              f"{extra / 2**20:.1f} MiB sent again, {extra / JOBS / 2**20:.1f} MiB per transfer in flight "
              f"(goal <= 16 MiB)")


if __name__ == "__main__":
    main()
