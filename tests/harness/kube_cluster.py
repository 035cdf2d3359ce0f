"""A tiny Kubernetes cluster for the round-trip tests, the one thing here with no real
counterpart: an API server on 127.0.0.1 (kube_api.py) answering the calls Sematic 0.41's
server makes, two nodes (amd64 and arm64) whose kubelet (kubelet.py) runs the pods of its Jobs
on this machine with the pushed images, and the events a test watches. Its kubeconfig (plain
HTTP, no credentials) is what the Sematic server's KUBECONFIG names."""

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .background import BackgroundServer
from .kube_api import api_handler
from .kube_objects import Job, Pod, node_name
from .kubelet import Kubelet

NODES = ("amd64", "arm64")  # the first is where a pod without a node selector goes
DEFAULT_GRACE = 30  # seconds: a pod's terminationGracePeriodSeconds when its spec sets none


@dataclass
class Event:
    """A Kubernetes event: `kind` Job or Pod, `at` on the monotonic clock of this process."""
    at: float
    kind: str
    name: str
    reason: str
    message: str


class FakeCluster:
    """Jobs, pods and events, served on a free port of 127.0.0.1 until `stop()`, which deletes
    every container (by its runc ID) and removes every bundle and pulled image."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.jobs = {}  # (namespace, name) -> Job, in creation order, deleted ones included
        self.events = []
        self.requests = []  # (method, path) of every API request
        self.unhandled = []  # (method, path) of the requests answered 404 for want of an implementation
        self.lock = threading.Condition()  # held while the API reads or changes the state
        self.kubeconfig = self.workdir / "kubeconfig"
        self._nodes = {arch: Kubelet(arch, self.workdir / arch, self._report) for arch in NODES}
        self._server = None

    def start(self) -> "FakeCluster":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._server = BackgroundServer(api_handler(self))
        # JSON is YAML: the official client's load_kube_config() reads it.
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self._server.port}"}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }))
        return self

    def stop(self) -> None:
        if self._server:
            self._server.stop()
        for node in self._nodes.values():
            node.stop()

    # The API server's side (kube_api.py calls these holding `lock`).

    def create_job(self, namespace: str, body: dict) -> Job:
        job = Job(namespace=namespace, name=body["metadata"]["name"], body=body)
        job.pod = Pod.new(job)
        self.jobs[(namespace, job.name)] = job
        self._event("Job", job.name, "SuccessfulCreate", f"Created pod: {job.pod.name}")
        self._schedule(job.pod)
        return job

    def job(self, namespace: str, name: str) -> Optional[Job]:
        job = self.jobs.get((namespace, name))
        return None if job is None or job.deleted else job

    def pods(self, namespace: str, job_name: str) -> list:
        job = self.job(namespace, job_name)
        return [job.pod] if job else []

    def delete_job(self, namespace: str, name: str) -> Optional[Job]:
        """Deletes the Job; its pod goes with it (propagation Background): its container gets
        SIGTERM, then SIGKILL after the pod's grace period."""
        job = self.job(namespace, name)
        if job is None:
            return None
        job.deleted = True
        self._event("Job", name, "SuccessfulDelete", f"Deleted pod: {job.pod.name}")
        if job.pod.node and job.pod.phase in ("Pending", "Running"):
            spec = job.body["spec"]["template"]["spec"]
            self._nodes[job.pod.node].kill(job.pod, spec.get("terminationGracePeriodSeconds") or DEFAULT_GRACE)
        return job

    def record(self, method: str, path: str, handled: bool) -> None:
        with self.lock:
            self.requests.append((method, path))
            if not handled:
                self.unhandled.append((method, path))

    # The tests' side.

    def pods_since(self, mark: int) -> list:
        """The pods of the Jobs created after the first `mark` (a former `len(cluster.jobs)`)."""
        with self.lock:
            return [job.pod for job in list(self.jobs.values())[mark:]]

    def pod_events(self, pod: Pod) -> list:
        with self.lock:
            return [event for event in self.events if event.kind == "Pod" and event.name == pod.name]

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Waits until `predicate()` (checked at every change of the cluster) or `timeout` seconds."""
        with self.lock:
            return self.lock.wait_for(predicate, timeout)

    def forget_images(self) -> None:
        """Every node forgets the images it pulled: the next pods pull again."""
        for node in self._nodes.values():
            node.forget_images()

    # Inside.

    def _schedule(self, pod: Pod) -> None:
        """Binds the pod to the first node whose labels its nodeSelector matches, as the
        scheduler would (resources and taints are not modelled), and starts it there."""
        selector = pod.job.body["spec"]["template"]["spec"].get("nodeSelector") or {}
        fitting = [arch for arch in NODES
                   if all(_node_labels(arch).get(key) == value for key, value in selector.items())]
        if not fitting:
            message = (f"0/{len(NODES)} nodes are available: {len(NODES)} node(s) didn't match Pod's node "
                       "affinity/selector.")
            self._report(pod, "FailedScheduling", message, unschedulable=message)
            return
        self._report(pod, "Scheduled", f"Successfully assigned {pod.job.namespace}/{pod.name} to "
                                       f"{node_name(fitting[0])}", node=fitting[0])
        self._nodes[fitting[0]].run(pod)

    def _report(self, pod: Pod, reason: Optional[str], message: Optional[str], **changes) -> None:
        """What a kubelet (or the scheduler) says about a pod; the Job controller's event when
        the pod's container ended."""
        with self.lock:
            for name, value in changes.items():
                setattr(pod, name, value)
            if reason:
                self._event("Pod", pod.name, reason, message)
            if "exit_code" in changes and not pod.job.deleted:
                if pod.exit_code == 0:
                    self._event("Job", pod.job.name, "Completed", "Job completed")
                else:
                    self._event("Job", pod.job.name, "BackoffLimitExceeded",
                                "Job has reached the specified backoff limit")
            self.lock.notify_all()

    def _event(self, kind: str, name: str, reason: str, message: str) -> None:
        with self.lock:
            self.events.append(Event(time.monotonic(), kind, name, reason, message))
            self.lock.notify_all()


def _node_labels(arch: str) -> dict:
    return {"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": node_name(arch)}
