"""Round trips through a real Sematic server: `bazel run` of the launch targets, as a user runs
them, pushes to a local registry and submits the pipeline to Sematic 0.41's own server (SQLite,
LocalStorage), which schedules its Kubernetes Jobs on a fake API server whose kubelet pulls the
pushed images by digest and runs them with runc (tests/harness/kube_cluster.py). The runs are
read back through the server, their outputs through the sematic client.

The server gets one route Sematic 0.41 lacks (log uploads into a namespace with "/", answered
405: tests/harness/sematic_serve.py); the images run Sematic as released."""

import pytest

from harness.containers import require_arm64_emulation
from harness.round_trip import RoundTripFailed, log_tail

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

REGISTRY = "127.0.0.1:5000"
TIMEOUT = 240  # seconds for a pipeline run on amd64 to end once submitted (~30 s here)
WORKER_ENV = {"ON_SEMATIC_WORKER": "1", "PYTHONUNBUFFERED": "1"}


def uri(repo_bazel, target: str, repository: str) -> str:
    """The URI a push of `target` gives: the registry's repository, by the built digest."""
    return f"{REGISTRY}/{repository}@{repo_bazel.image(target)[1]}"


def resolved(round_trip, submitted) -> dict:
    """The root run, asserted RESOLVED (else: its error and the driver's log)."""
    run = round_trip.await_end(submitted, timeout=TIMEOUT)
    driver = round_trip.driver_job(submitted)
    assert run["future_state"] == "RESOLVED", (run.get("exception_metadata_json"), log_tail(driver.pod, 80))
    return run


def test_hello_resolves_in_its_image_with_the_jobs_sematic_promises(repo_bazel, round_trip):
    submitted = round_trip.submit(repo_bazel, "//examples/hello:main")
    server = round_trip.server
    assert (f"sematic-launch: Sematic server 0.41.0 at http://localhost:{server.port} (from $SEMATIC_API_ADDRESS)"
            in submitted.launched.stderr), submitted.launched.stderr
    resolved(round_trip, submitted)
    assert server.output(submitted.root_id) == 8.0  # (1 + 2) + (2 + 3), computed in the image
    assert server.resolution(submitted.root_id)["status"] == "COMPLETE"

    [driver] = round_trip.jobs(submitted)
    assert driver.name == f"sematic-driver-{submitted.root_id}"
    container = driver.container
    hello = uri(repo_bazel, "//examples/hello:main_default_image", "rules-sematic/examples/hello")
    assert container["image"] == hello, "the driver must run the pushed image, by digest"
    # No command: the image's ENTRYPOINT (the worker) runs with these arguments.
    assert "command" not in container
    assert container["args"] == ["--run_id", submitted.root_id, "--resolve"]
    env = {entry["name"]: entry for entry in container["env"]}
    assert {name: env[name]["value"] for name in WORKER_ENV} == WORKER_ENV
    assert env["SEMATIC_CONTAINER_IMAGE"]["value"] == hello
    assert env["KUBERNETES_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # The client's address (localhost) went with the pipeline run; the server's worker address won.
    assert env["SEMATIC_API_ADDRESS"]["value"] == server.url
    log = log_tail(driver.pod, 400)
    assert f"Worker pod: {driver.pod.name}" in log and "resolve=True" in log, log
    # The driver ends its pod itself once the pipeline run is COMPLETE: the Job succeeds.
    assert round_trip.cluster.wait(lambda: driver.pod.exit_code is not None, timeout=60)
    assert (driver.pod.node, driver.pod.exit_code) == ("amd64", 0)
    events = [event.reason for event in round_trip.cluster.pod_events(driver.pod)]
    assert events[0] == "Scheduled" and "Pulled" in events and events[-2:] == ["Created", "Started"], events


def test_multi_runs_its_standalone_function_as_a_job_on_the_cuda_image(repo_bazel, round_trip):
    submitted = round_trip.submit(repo_bazel, "//examples/multi:main", "4")
    resolved(round_trip, submitted)
    assert round_trip.server.output(submitted.root_id) == 14.0  # 0² + 1² + 2² + 3², by train

    repository = "rules-sematic/examples/multi"
    images = {key: uri(repo_bazel, f"//examples/multi:main_{key}_image", repository) for key in ("default", "cuda")}
    driver, worker = round_trip.jobs(submitted)
    assert driver.container["image"] == images["default"]
    [train] = [r for r in round_trip.server.runs(submitted.root_id) if r["name"] == "train"]
    assert worker.name.startswith(f"sematic-worker-{train['id']}-")
    assert worker.container["image"] == images["cuda"] == train["container_image_uri"]
    assert worker.container["args"] == ["--run_id", train["id"]]
    assert train["future_state"] == "RESOLVED"


def test_arm64_image_of_a_two_platform_pipeline_runs_its_driver_under_qemu(repo_bazel, round_trip):
    require_arm64_emulation()
    submitted = round_trip.submit(repo_bazel, "//tests/roundtrip:arm")
    run = round_trip.await_end(submitted, timeout=600)
    driver = round_trip.driver_job(submitted)
    assert run["future_state"] == "RESOLVED", (run.get("exception_metadata_json"), log_tail(driver.pod, 80))
    assert round_trip.server.output(submitted.root_id) == "aarch64"
    assert driver.pod.node == "arm64"
    # The index's digest: the node chose its platform's image.
    assert driver.container["image"] == uri(repo_bazel, "//tests/roundtrip:arm_default_image", "rules-sematic/tests/arm")


def test_a_function_missing_from_its_keys_image_fails_the_run_with_the_workers_error(repo_bazel, round_trip):
    submitted = round_trip.submit(repo_bazel, "//tests/roundtrip:mismatch", "2")
    run = round_trip.await_end(submitted, timeout=TIMEOUT)
    assert run["future_state"] == "NESTED_FAILED", run  # Sematic's state of a run whose nested run failed
    [train] = [r for r in round_trip.server.runs(submitted.root_id) if r["name"] == "train"]
    assert train["future_state"] == "FAILED"
    error = train["exception_metadata_json"]["repr"]
    assert "No module named 'examples.multi'" in error, error
    worker = round_trip.jobs(submitted)[1]
    assert worker.container["image"] == uri(repo_bazel, "//examples/hello:main_default_image",
                                            "rules-sematic/examples/hello")
    assert worker.pod.exit_code not in (None, 0)
    assert "ModuleNotFoundError: No module named 'examples.multi'" in log_tail(worker.pod, 200)
    assert round_trip.server.resolution(submitted.root_id)["status"] == "FAILED"


def test_an_image_the_registry_lacks_fails_fast(repo_bazel, round_trip):
    # `main_binary` names the built digest without pushing; this test's registry is empty and
    # the nodes forget what earlier tests pulled.
    round_trip.cluster.forget_images()
    submitted = round_trip.submit(repo_bazel, "//examples/hello:main_binary")
    assert "is not in the registry, so the cluster cannot pull it" in submitted.launched.stderr
    with pytest.raises(RoundTripFailed, match=r"will not run, the pipeline run stays \w+: (ErrImagePull|ImagePullBackOff)"):
        round_trip.await_end(submitted, timeout=60)
    [driver] = round_trip.jobs(submitted)
    reasons = [event.reason for event in round_trip.cluster.pod_events(driver.pod)]
    assert reasons == ["Scheduled", "Pulling", "Failed", "BackOff"], reasons


def test_an_image_whose_entrypoint_is_not_the_worker_fails_the_round_trip(repo_bazel, round_trip):
    submitted = round_trip.submit(repo_bazel, "//tests/roundtrip:not_worker_launch")
    with pytest.raises(RoundTripFailed, match="exited with 0 and the pipeline run is still CREATED"):
        round_trip.await_end(submitted, timeout=TIMEOUT)
    driver = round_trip.driver_job(submitted)
    # The Job's arguments reached the image's entrypoint, which ignored them.
    expected = f"not the Sematic worker; arguments: ['--run_id', '{submitted.root_id}', '--resolve']"
    assert expected in log_tail(driver.pod), log_tail(driver.pod)
    # Sematic's own garbage collection (`sematic clean`) finds the orphaned pipeline run and
    # fails it, having read the driver pod from Kubernetes (no API shows driver Jobs: its log).
    server = round_trip.server
    assert server.api(f"/resolutions/{submitted.root_id}/clean", method="POST")["content"] == "FAILED"
    assert server.resolution(submitted.root_id)["status"] == "FAILED"
    seen = f"Worker pod {driver.pod.name} failed: Job failed. The container exited with a 0 exit code, but Sematic"
    assert seen in server.log.read_text(), server.log_tail()
