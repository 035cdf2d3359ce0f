"""The fake cluster's API server: exactly the four calls Sematic 0.41's server makes through the
official Kubernetes client (sematic/scheduling/kubernetes.py), answered from the cluster's state:

    POST   /apis/batch/v1/namespaces/NS/jobs                   create_namespaced_job
    GET    /apis/batch/v1/namespaces/NS/jobs/NAME/status       read_namespaced_job_status
    GET    /api/v1/namespaces/NS/pods?labelSelector=job-name=NAME   list_namespaced_pod
    DELETE /apis/batch/v1/namespaces/NS/jobs/NAME              delete_namespaced_job

A Job that does not exist (or was deleted) is a 404 NotFound Status, as Kubernetes answers.
Any other request is answered 404 and recorded in the cluster's `unhandled`, so that a newer
Sematic's extra calls show up in the tests instead of being half-served. Plain HTTP on
127.0.0.1: the official client takes `http://` servers from a kubeconfig."""

import json
import re
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .kube_objects import job_json, pod_list_json, status_json

JOBS = re.compile(r"/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs")
JOB = re.compile(r"/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs/(?P<name>[^/]+)")
JOB_STATUS = re.compile(r"/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs/(?P<name>[^/]+)/status")
PODS = re.compile(r"/api/v1/namespaces/(?P<namespace>[^/]+)/pods")
JOB_NAME_SELECTOR = re.compile(r"job-name=(?P<name>[^,=!()\s]+)")


def api_handler(cluster) -> type:
    """A request handler class serving `cluster` (a kube_cluster.FakeCluster)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def do_PUT(self):
            self._serve("PUT")

        def do_PATCH(self):
            self._serve("PATCH")

        def do_DELETE(self):
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with cluster.lock:
                answer = _route(cluster, method, url.path, parse_qs(url.query), body)
            cluster.record(method, self.path, handled=answer is not None)
            code, payload = answer or (404, status_json(404, "NotFound", "the server could not find the requested resource"))
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # every request is in cluster.requests

    return Handler


def _route(cluster, method: str, path: str, query: dict, body):
    """(status, JSON) of an implemented call, or None."""
    if method == "POST" and (match := JOBS.fullmatch(path)):
        return 201, job_json(cluster.create_job(match["namespace"], body))
    if method == "GET" and (match := JOB_STATUS.fullmatch(path)):
        job = cluster.job(match["namespace"], match["name"])
        return (200, job_json(job)) if job else _job_not_found(match["name"])
    if method == "GET" and (match := PODS.fullmatch(path)):
        selector = JOB_NAME_SELECTOR.fullmatch(query.get("labelSelector", [""])[0])
        if selector is None:
            return None
        return 200, pod_list_json(cluster.pods(match["namespace"], selector["name"]))
    if method == "DELETE" and (match := JOB.fullmatch(path)):
        job = cluster.delete_job(match["namespace"], match["name"])
        if job is None:
            return _job_not_found(match["name"])
        return 200, status_json(200, "", "", {"name": job.name, "group": "batch", "kind": "jobs", "uid": job.uid})
    return None


def _job_not_found(name: str) -> tuple:
    return 404, status_json(404, "NotFound", f'jobs.batch "{name}" not found',
                            {"name": name, "group": "batch", "kind": "jobs"})
