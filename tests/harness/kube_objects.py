"""The Kubernetes objects the fake cluster (kube_cluster.py) serves: its Jobs and Pods, and their
JSON as an API server (Kubernetes 1.30) renders them, so that Sematic reads the fake's answers
with the official client exactly as it reads a real cluster's. Only state and rendering here:
no HTTP, no containers."""

import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

# Waiting reasons kubelet does not get a container out of by itself: its pod stays Pending, which
# Sematic 0.41 does not count as a failure, so its run stays SCHEDULED. A test stops waiting.
STUCK_REASONS = ("ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "CreateContainerError")


def now() -> datetime:
    return datetime.now(timezone.utc)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second, as the API server writes times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    """A batch/v1 Job as created (its body is kept as posted), and its pod: Sematic's Jobs have
    backoffLimit 0, so the Job controller makes exactly one."""
    namespace: str
    name: str
    body: dict
    created: datetime = field(default_factory=now)
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    pod: Optional["Pod"] = None
    deleted: bool = False

    @property
    def container(self) -> dict:
        """The pod template's container (Sematic's jobs have exactly one)."""
        return self.body["spec"]["template"]["spec"]["containers"][0]


@dataclass
class Pod:
    """A Job's pod, from creation to its container's exit. `node` is the architecture of the
    node it was scheduled on; `waiting` the container's waiting reason and message."""
    job: Job
    name: str
    created: datetime = field(default_factory=now)
    node: Optional[str] = None
    unschedulable: Optional[str] = None
    waiting: tuple = ("ContainerCreating", None)
    image_id: str = ""
    container_id: str = ""
    started: Optional[datetime] = None
    finished: Optional[datetime] = None
    exit_code: Optional[int] = None
    log: Optional[Path] = None  # the container's stdout and stderr

    @staticmethod
    def new(job: Job) -> "Pod":
        """A pod named as the Job controller names them: the Job's name and 5 random characters."""
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        return Pod(job=job, name=f"{job.name}-{suffix}")

    @property
    def phase(self) -> str:
        if self.exit_code is not None:
            return "Succeeded" if self.exit_code == 0 else "Failed"
        return "Running" if self.started else "Pending"

    @property
    def stuck(self) -> Optional[str]:
        """Why the pod will stay Pending (unschedulable, or a waiting reason kubelet does not
        get out of), or None."""
        if self.unschedulable:
            return f"Unschedulable: {self.unschedulable}"
        reason, message = self.waiting
        if self.phase == "Pending" and reason in STUCK_REASONS:
            return f"{reason}: {message}"
        return None


def job_json(job: Job) -> dict:
    """The Job with the status the Job controller gives it (backoffLimit 0: one pod)."""
    pod = job.pod
    status = {"startTime": timestamp(job.created)}
    if pod is not None:
        phase = pod.phase
        if phase in ("Pending", "Running"):
            status["active"] = 1
            status["ready"] = 1 if phase == "Running" else 0
        elif phase == "Succeeded":
            status.update(succeeded=1, ready=0, completionTime=timestamp(pod.finished))
            status["conditions"] = [_condition("Complete", True, at=pod.finished)]
        else:
            status.update(failed=1, ready=0)
            status["conditions"] = [_condition("Failed", True, "BackoffLimitExceeded",
                                               "Job has reached the specified backoff limit", at=pod.finished)]
    labels = _controller_labels(job)
    spec = dict(job.body["spec"])
    spec["template"] = dict(spec["template"])
    spec["template"]["metadata"] = {**spec["template"].get("metadata", {}),
                                    "labels": {**(spec["template"].get("metadata", {}).get("labels") or {}), **labels}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job.name, "namespace": job.namespace, "uid": job.uid,
                     "creationTimestamp": timestamp(job.created), "labels": labels},
        "spec": spec,
        "status": status,
    }


def pod_json(pod: Pod) -> dict:
    """The pod with the status kubelet reports for it."""
    job = pod.job
    template = job.body["spec"]["template"]
    metadata = template.get("metadata") or {}
    spec = dict(template["spec"])
    status = {"phase": pod.phase, "conditions": _pod_conditions(pod), "qosClass": "BestEffort"}
    if pod.node:
        spec["nodeName"] = node_name(pod.node)
        status.update(hostIP="127.0.0.1", podIP="127.0.0.1", startTime=timestamp(pod.created),
                      containerStatuses=[_container_status(pod)])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": job.namespace,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, pod.name)),
            "creationTimestamp": timestamp(pod.created),
            "labels": {**(metadata.get("labels") or {}), **_controller_labels(job)},
            "annotations": metadata.get("annotations") or {},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job.name, "uid": job.uid,
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
        "status": status,
    }


def pod_list_json(pods: list) -> dict:
    return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
            "items": [pod_json(pod) for pod in pods]}


def status_json(code: int, reason: str, message: str, details: Optional[dict] = None) -> dict:
    """A v1 Status: the body of errors, and of a successful delete."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success" if code < 400 else "Failure", "message": message, "reason": reason,
            "details": details or {}, "code": code}


def node_name(arch: str) -> str:
    return f"fake-node-{arch}"


def _controller_labels(job: Job) -> dict:
    return {"batch.kubernetes.io/controller-uid": job.uid, "batch.kubernetes.io/job-name": job.name,
            "controller-uid": job.uid, "job-name": job.name}


def _condition(kind: str, true: bool, reason: Optional[str] = None, message: Optional[str] = None,
               at: Optional[datetime] = None) -> dict:
    condition = {"type": kind, "status": "True" if true else "False", "lastProbeTime": None,
                 "lastTransitionTime": timestamp(at or now())}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _pod_conditions(pod: Pod) -> list:
    if pod.unschedulable:
        return [_condition("PodScheduled", False, "Unschedulable", pod.unschedulable, at=pod.created)]
    if not pod.node:
        return []
    phase = pod.phase
    ready = phase == "Running"
    reason = {"Pending": "ContainersNotReady", "Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase)
    message = f"containers with unready status: [{pod.job.container['name']}]" if phase == "Pending" else None
    changed = pod.finished or pod.started or pod.created
    return [
        _condition("Initialized", True, at=pod.created),
        _condition("Ready", ready, reason, message, at=changed),
        _condition("ContainersReady", ready, reason, message, at=changed),
        _condition("PodScheduled", True, at=pod.created),
    ]


def _container_status(pod: Pod) -> dict:
    container = pod.job.container
    if pod.exit_code is not None:
        state = {"terminated": {"exitCode": pod.exit_code, "reason": "Completed" if pod.exit_code == 0 else "Error",
                                "startedAt": timestamp(pod.started), "finishedAt": timestamp(pod.finished),
                                "containerID": pod.container_id}}
    elif pod.started:
        state = {"running": {"startedAt": timestamp(pod.started)}}
    else:
        reason, message = pod.waiting
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    running = pod.phase == "Running"
    status = {"name": container["name"], "image": container["image"], "imageID": pod.image_id, "ready": running,
              "restartCount": 0, "started": running, "state": state}
    if pod.container_id:
        status["containerID"] = pod.container_id
    return status
