"""The kubelet of the fake cluster's nodes: runs a pod's container on this machine as a node
of one CPU architecture would, with the tools the image tests use (skopeo, umoci, runc).

The image is pulled by digest from the registry with skopeo, for the node's architecture
(once: a node keeps the images it pulled, as Kubernetes' IfNotPresent does for a digest), its
layers unpacked once each and stacked with overlayfs (overlay.py), and the container run with
runc in the background: on the host's network (the worker reaches the Sematic server on
127.0.0.1), the container's args after the image's entrypoint (Sematic sets no command), its
env over the image's, the pod's name as hostname. arm64 images run through qemu (binfmt_misc).
What happens is reported to the cluster as Kubernetes events, with the pod's new state."""

import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from . import overlay
from .containers import configure, container_id, runc_delete, runc_signal, runtime_config
from .fixtures import require
from .images import blob_path, read_blob_json
from .kube_objects import Pod, now

PULLED = "pulled"  # the tag of a pulled image in its layout
PULL_TIMEOUT = 600  # seconds: the largest images of the suites take seconds from loopback


class Kubelet:
    """One node, of CPU architecture `arch` (amd64, arm64). `report(pod, reason, message,
    **changes)` applies `changes` to the pod and records the event `reason` (none when None:
    kubelet sends no event when a container exits, the pod's status says it)."""

    def __init__(self, arch: str, workdir: Path, report: Callable):
        require("skopeo", "umoci", "runc")
        self.arch = arch
        self.workdir = Path(workdir)
        self._report = report
        # Image pulls and layer unpacks one at a time (kubelet's default serializeImagePulls);
        # containers are looked up without waiting for them.
        self._images_lock = threading.Lock()
        self._lock = threading.Lock()
        self._images = {}  # image reference -> pulled layout
        self._layers = self.workdir / "layers"  # unpacked layers, by digest
        self._containers = {}  # pod name -> (runc container id, runc process)
        self._timers = []
        self._threads = []

    def run(self, pod: Pod) -> None:
        """Starts the pod's container, in the background."""
        thread = threading.Thread(target=self._run, args=(pod,), daemon=True, name=pod.name)
        self._threads.append(thread)
        thread.start()

    def kill(self, pod: Pod, grace: int) -> None:
        """Stops the pod's container as for a deleted pod: SIGTERM, then SIGKILL after `grace`
        seconds."""
        with self._lock:
            container = self._containers.get(pod.name)
        if container is None:
            return
        self._report(pod, "Killing", f"Stopping container {pod.job.container['name']}")
        runc_signal(container[0], "TERM")
        timer = threading.Timer(grace, runc_signal, (container[0], "KILL"))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def forget_images(self) -> None:
        """Drops the images the node pulled, so the next pod of each pulls it again (their
        unpacked layers stay, as containerd keeps snapshots: only a pull reaches the registry)."""
        with self._images_lock:
            layouts, self._images = list(self._images.values()), {}
        for layout in layouts:
            shutil.rmtree(layout, ignore_errors=True)

    def stop(self) -> None:
        """Deletes every container (killing what still runs), then removes bundles and images."""
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            containers = list(self._containers.values())
        for runc_id, process in containers:
            runc_delete(runc_id)
            process.wait(timeout=60)
        for thread in self._threads:
            thread.join(timeout=60)
        bundles = self.workdir / "bundles"
        for bundle in bundles.iterdir() if bundles.exists() else []:
            overlay.unmount(bundle)
        shutil.rmtree(bundles, ignore_errors=True)
        shutil.rmtree(self._layers, ignore_errors=True)
        self.forget_images()

    def _run(self, pod: Pod) -> None:
        image = pod.job.container["image"]
        with self._images_lock:
            layout = self._images.get(image)
        if layout:
            self._report(pod, "Pulled", f'Container image "{image}" already present on machine', image_id=image)
        else:
            started = time.monotonic()
            self._report(pod, "Pulling", f'Pulling image "{image}"')
            try:
                layout = self._pull(image)
            except PullError as error:
                self._report(pod, "Failed", f'Failed to pull image "{image}": {error}',
                             waiting=("ErrImagePull", str(error)))
                self._report(pod, "BackOff", f'Back-off pulling image "{image}"',
                             waiting=("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {error}'))
                return
            self._report(pod, "Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - started:.1f}s',
                         image_id=image)
        bundle = self.workdir / "bundles" / pod.name
        try:
            self._create(pod, layout, bundle)
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            message = (getattr(error, "stderr", None) or str(error)).strip()
            self._remove(bundle)
            self._report(pod, "Failed", f"Error: {message}", waiting=("CreateContainerError", message))
            return
        if pod.job.deleted:  # while its image was pulled: nothing to start
            self._remove(bundle)
            return
        self._report(pod, "Created", f"Created container {pod.job.container['name']}")
        runc_id = container_id()
        log = self.workdir / "logs" / f"{pod.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            process = subprocess.Popen(["runc", "run", "--bundle", str(bundle), runc_id],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        with self._lock:
            self._containers[pod.name] = (runc_id, process)
        self._report(pod, "Started", f"Started container {pod.job.container['name']}", started=now(),
                     container_id=f"runc://{runc_id}", log=log)
        code = process.wait()
        self._report(pod, None, None, exit_code=code, finished=now())
        runc_delete(runc_id)
        self._remove(bundle)

    def _pull(self, image: str) -> Path:
        with self._images_lock:
            if image in self._images:
                return self._images[image]
            layout = self.workdir / "images" / hashlib.sha256(image.encode()).hexdigest()[:16]
            layout.parent.mkdir(parents=True, exist_ok=True)
            result = subprocess.run(
                ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--override-os", "linux",
                 "--override-arch", self.arch, f"docker://{image}", f"oci:{layout}:{PULLED}"],
                capture_output=True, text=True, timeout=PULL_TIMEOUT)
            if result.returncode != 0:
                shutil.rmtree(layout, ignore_errors=True)
                last = (result.stderr.strip().splitlines() or ["skopeo failed"])[-1]
                raise PullError(re.sub(r'^time=".*?" level=\w+ msg="(.*)"$', r"\1", last))
            self._images[image] = layout
            return layout

    def _create(self, pod: Pod, layout: Path, bundle: Path) -> None:
        """Unpacks the image into the bundle and writes the container's process into it."""
        container = pod.job.container
        manifest = read_blob_json(layout, _pulled_manifest(layout))
        config = read_blob_json(layout, manifest["config"]["digest"]).get("config") or {}
        command, args = container.get("command"), container.get("args")
        if command:
            argv = command + (args or [])
        elif args:
            argv = (config.get("Entrypoint") or []) + args
        else:
            argv = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        with self._images_lock:
            layers = []
            for descriptor in manifest["layers"]:
                layers.append(self._layers / descriptor["digest"].split(":", 1)[1][:16])
                overlay.unpack_layer(blob_path(layout, descriptor["digest"]), layers[-1])
            overlay.mount(layers, bundle)
            runtime_config(layout, PULLED, bundle)
        configure(bundle, argv, _environment(pod), hostname=pod.name, host_network=True)

    @staticmethod
    def _remove(bundle: Path) -> None:
        overlay.unmount(bundle)
        shutil.rmtree(bundle, ignore_errors=True)


class PullError(Exception):
    """The registry did not give the image (skopeo's last line says why)."""


def _pulled_manifest(layout: Path) -> str:
    """The digest of the one image skopeo wrote into the layout."""
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def _environment(pod: Pod) -> dict:
    """The container's env: values, and the pod's name where Sematic asks for it (fieldRef
    metadata.name, its KUBERNETES_POD_NAME). Other sources (secrets) are not set up here."""
    values = {}
    for entry in pod.job.container.get("env") or []:
        source = entry.get("valueFrom")
        if source is None:
            values[entry["name"]] = entry.get("value") or ""
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            values[entry["name"]] = pod.name
        else:
            raise ValueError(f"env {entry['name']}: the fake cluster sets only values and fieldRef metadata.name")
    return values
