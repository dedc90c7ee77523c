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


class Standalone:
    """``airflow standalone`` in a session of its own; the fault tests kill it and start it again."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home, self.env = home, env
        self.api = AirflowAPI(home, port)
        self.log = home / "standalone.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 600) -> AirflowAPI:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(["airflow", "standalone"], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self.api.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-5000:]
                raise RuntimeError(f"airflow standalone did not become healthy:\n{tail}")
            time.sleep(2)
        return self.api

    def kill(self) -> None:
        """SIGKILL to every process of it (scheduler, executor, API, task supervisors), as a crash would."""
        if self.proc is None:
            raise RuntimeError("airflow standalone was never started: nothing to kill")
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextmanager
def standalone(home: Path, env: dict[str, str], port: int, timeout_s: float = 600) -> Iterator[AirflowAPI]:
    """A throwaway ``airflow standalone`` for tests and benchmarks, stopped on exit; its log in ``home``."""
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    airflow = Standalone(home, env, port)
    try:
        yield airflow.start(timeout_s)
    finally:
        airflow.stop()
