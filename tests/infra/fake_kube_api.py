"""A fake Kubernetes API on 127.0.0.1 for testing pipelines/k8s/nightly-driver.sh.

It answers the few calls the driver makes (list, create and read Jobs in one namespace)
from a scripted scenario, and records every request so a test can check what the driver
sent: the bearer token, the YAML body, the order of creations.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JOBS = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/?]+))?(?:\?.*)?$")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Scenario:
    """What the API answers.

    `existing`: Jobs already in the namespace (as the list call returns them).
    `states`: for each role (`shards`, `aggregate`), the sequence of states the Job goes
    through on successive reads (`Running`, `Complete`, `Failed`); the last one repeats.
    `failed_indexes`: what a failed shards Job reports.
    `refuse_create`: answer every create with 403.
    """

    existing: list[dict] = field(default_factory=list)
    states: dict[str, list[str]] = field(default_factory=dict)
    failed_indexes: str = ""
    refuse_create: bool = False


class FakeKubeApi:
    def __init__(self, scenario: Scenario, namespace: str = "ooni"):
        self.scenario = scenario
        self.namespace = namespace
        self.requests: list[Request] = []
        self.jobs: dict[str, dict] = {}
        self.reads: dict[str, int] = {}
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self, status: int, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with api.lock:
                    api.requests.append(request)
                    status, payload = api.answer(request)
                self._answer(status, payload)

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKubeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def job(self, name: str, role: str, state: str) -> dict:
        conditions = []
        if state in ("Complete", "Failed"):
            conditions.append({"type": state, "status": "True", "reason": "BackoffLimitExceeded" if state == "Failed" else "Completed", "message": "scripted"})
        status: dict = {"conditions": conditions}
        if role == "shards" and state == "Failed" and self.scenario.failed_indexes:
            status["failedIndexes"] = self.scenario.failed_indexes
        return {"metadata": {"name": name, "labels": {"ooni-pipeline/role": role}}, "status": status}

    def answer(self, request: Request) -> tuple[int, dict]:
        match = JOBS.match(request.path)
        if not match or match["ns"] != self.namespace:
            return 404, {"kind": "Status", "message": f"no route {request.path}"}
        if request.headers.get("authorization") != "Bearer test-token":
            return 401, {"kind": "Status", "message": "Unauthorized"}
        name = match["name"]
        if request.method == "GET" and name is None:
            return 200, {"kind": "JobList", "items": self.scenario.existing}
        if request.method == "POST" and name is None:
            if self.scenario.refuse_create:
                return 403, {"kind": "Status", "message": "jobs.batch is forbidden"}
            generate = re.search(r"^\s*generateName:\s*(\S+)", request.body, re.M)
            role = re.search(r"^\s*ooni-pipeline/role:\s*(\S+)", request.body, re.M)
            if not generate or not role:
                return 422, {"kind": "Status", "message": "no generateName or role"}
            created = f"{generate[1]}{len(self.jobs):05d}"
            self.jobs[created] = {"role": role[1]}
            return 201, self.job(created, role[1], "Running")
        if request.method == "GET" and name in self.jobs:
            role = self.jobs[name]["role"]
            states = self.scenario.states.get(role, ["Complete"])
            n = self.reads.get(name, 0)
            self.reads[name] = n + 1
            return 200, self.job(name, role, states[min(n, len(states) - 1)])
        return 404, {"kind": "Status", "message": f"jobs.batch {name!r} not found"}

    def created(self) -> list[str]:
        """The roles of the Jobs created, in order."""
        return [job["role"] for job in self.jobs.values()]
