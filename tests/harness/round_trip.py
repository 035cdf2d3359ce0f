"""A round trip, for the tests and the benchmark: `bazel run` of a launcher target submits a
pipeline to the harness's Sematic server, which schedules its Jobs on the fake cluster; the
pipeline run is then followed through the server to its end, while the cluster's pods are
watched so that a pod that will never run, or a driver that exited without ending the run,
fails at once. (Sematic 0.41 notices neither: a Pending pod is no failure to it, and a Job is
only looked at again when an API call happens to refresh it; the run stays SCHEDULED.)"""

import json
import time
import uuid
from dataclasses import dataclass
from subprocess import CompletedProcess
from typing import Optional

from .kube_cluster import FakeCluster
from .kube_objects import Job, Pod
from .sematic_server import NAMESPACE, SematicServer

TERMINAL = ("RESOLVED", "FAILED", "NESTED_FAILED", "CANCELED")
DRIVER_EXIT_GRACE = 5  # seconds for a run to be seen ended once its driver has exited
POLL = 0.5  # seconds between looks at the server and the pods


class RoundTripFailed(AssertionError):
    """The pipeline run cannot end: a pod will not run, or the driver left it unfinished."""


@dataclass
class Submitted:
    """A pipeline run the launch script submitted: its root run's id, what `bazel run` printed,
    and how many Jobs the cluster had before (the run's are after)."""
    root_id: str
    launched: CompletedProcess
    mark: int


@dataclass
class RoundTrip:
    cluster: FakeCluster
    server: SematicServer

    def submit(self, bazel, target: str, *args, launcher_flags=()) -> Submitted:
        """`bazel run target -- [LAUNCHER_FLAGS] -- --report R ARGS` as a user whose Sematic
        client points at the server; the root run's id comes from the examples' report."""
        mark = len(self.cluster.jobs)
        report = self.server.workdir / f"report-{uuid.uuid4().hex}.json"
        launched = bazel.run("run", target, "--", *launcher_flags, "--", "--report", report, *args,
                             env=self.server.client_env, timeout=1200)
        data = json.loads(report.read_text())
        assert data["detached"], data
        return Submitted(data["result"], launched, mark)

    def driver_job(self, submitted: Submitted) -> Optional[Job]:
        """The Job Sematic's server made for the pipeline run's driver."""
        return self.cluster.jobs.get((NAMESPACE, f"sematic-driver-{submitted.root_id}"))

    def jobs(self, submitted: Submitted) -> list:
        """The Jobs made for the pipeline run, in creation order."""
        return [pod.job for pod in self.cluster.pods_since(submitted.mark)]

    def await_end(self, submitted: Submitted, timeout: float) -> dict:
        """The root run once it has ended (RESOLVED, FAILED, ...), through the server's API.
        Raises RoundTripFailed as soon as one of the run's pods will never run, when the
        driver exited and the run did not end, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        driver_exited = None
        while True:
            run = self.server.run(submitted.root_id)
            state = run["future_state"]
            if state in TERMINAL:
                return run
            pods = self.cluster.pods_since(submitted.mark)
            for pod in pods:
                if pod.stuck:
                    raise RoundTripFailed(f"pod {pod.name} will not run, the pipeline run stays {state}: {pod.stuck}")
            driver = self.driver_job(submitted)
            if driver and driver.pod.exit_code is not None:
                driver_exited = driver_exited or time.monotonic()
                if time.monotonic() - driver_exited > DRIVER_EXIT_GRACE:
                    raise RoundTripFailed(f"the driver pod {driver.pod.name} exited with {driver.pod.exit_code} and the "
                                          f"pipeline run is still {state}; its log ends:\n{log_tail(driver.pod)}")
            if time.monotonic() > deadline:
                described = "; ".join(f"{pod.name} {pod.phase}" for pod in pods) or "none"
                raise RoundTripFailed(f"the pipeline run is still {state} after {timeout} s; pods: {described}")
            time.sleep(POLL)


def log_tail(pod: Pod, lines: int = 30) -> str:
    """The end of what the pod's container wrote (stdout and stderr)."""
    if pod.log is None or not pod.log.exists():
        return "(no log: the container never started)"
    return "\n".join(pod.log.read_text(errors="replace").splitlines()[-lines:])
