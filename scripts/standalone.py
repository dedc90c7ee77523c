"""A throwaway ``airflow standalone`` for tests and benchmarks, as ``make up`` runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_api import AirflowAPI
from local_env import ROOT


@contextmanager
def standalone(home: Path, env: dict[str, str], port: int, timeout_s: float = 600) -> Iterator[AirflowAPI]:
    """A throwaway ``airflow standalone`` for tests and benchmarks, stopped on exit; its log in ``home``."""
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    with (home / "standalone.log").open("wb") as log:
        proc = subprocess.Popen(["airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
        api = AirflowAPI(home, port)
        try:
            deadline = time.monotonic() + timeout_s
            while not api.ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (home / "standalone.log").read_text(errors="replace")[-5000:]
                    raise RuntimeError(f"airflow standalone did not become healthy:\n{tail}")
                time.sleep(2)
            yield api
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
