"""The REST API of a running Airflow, as the admin of the simple auth manager."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from local_env import ADMIN, AIRFLOW_PORT, HOME, admin_password

FINISHED = ("success", "failed", "skipped", "upstream_failed", "removed")


class AirflowAPI:
    """The REST API of a running Airflow, as the admin of the simple auth manager."""

    def __init__(self, home: Path = HOME, port: int = AIRFLOW_PORT) -> None:
        self.home = home
        self.base = f"http://localhost:{port}"
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self._token}"} if self._token else {})},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def call(self, method: str, path: str, body: dict | None = None, tries: int = 5) -> dict:
        """A call; server errors (SQLite busy under the scheduler) are tried again."""
        if self._token is None:
            login = {"username": ADMIN, "password": admin_password(self.home)}
            self._token = self._request("POST", "/auth/token", login)["access_token"]
        for attempt in range(1, tries + 1):
            try:
                return self._request(method, f"/api/v2{path}", body)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == tries:
                    raise
                time.sleep(attempt)
        raise ValueError(f"tries={tries}: a call needs at least one try")

    def ready(self) -> bool:
        """The API answers and the scheduler, DAG processor and triggerer heartbeat."""
        try:
            status = self._request("GET", "/api/v2/monitor/health")
        except (OSError, ValueError):
            return False
        return all(part.get("status") == "healthy" for part in status.values())

    def set_paused(self, dag_id: str, paused: bool, timeout_s: float = 180) -> None:
        """Right after a start the DAG processor may not have parsed the DAG yet: wait for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def trigger(self, dag_id: str, conf: dict, run_id: str | None = None) -> str:
        body = {"logical_date": None, "conf": conf, **({"dag_run_id": run_id} if run_id else {})}
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of the DAG, oldest first."""
        found: list[dict] = []
        while True:
            page = self.call("GET", f"/dags/{dag_id}/dagRuns?order_by=run_after&limit=100&offset={len(found)}")
            found += page["dag_runs"]
            if len(found) >= page["total_entries"] or not page["dag_runs"]:
                return found

    def run(self, dag_id: str, run_id: str) -> dict | None:
        try:
            return self.call("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def follow(self, dag_id: str, run_id: str) -> bool:
        """Print each task as it finishes; True when the run succeeds."""
        path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        reported: set[str] = set()
        while True:
            for ti in self.call("GET", f"{path}/taskInstances")["task_instances"]:
                if ti["state"] in FINISHED and ti["task_id"] not in reported:
                    reported.add(ti["task_id"])
                    print(f"  {ti['task_id']:<17}{ti.get('duration') or 0:6.1f} s  {ti['state']}")
            state = self.call("GET", path)["state"]
            if state in ("success", "failed"):
                return state == "success"
            time.sleep(3)
