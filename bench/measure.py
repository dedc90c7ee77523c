"""Run one command as a child process and measure its wall time and memory.

Two memory figures, because neither alone is the whole truth: ``os.wait4``'s
``ru_maxrss`` is exact but is the peak of the single largest process in the tree
(the kernel keeps a maximum, not a sum), while a stage such as detect runs
Python and ffmpeg side by side; so the tree's summed RSS is also sampled.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

SAMPLE_EVERY_S = 0.05
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ ([\w.]+): (.*)$")


@dataclass(frozen=True)
class Measurement:
    name: str
    seconds: float
    returncode: int
    maxrss_mb: float  # wait4: the largest single process of the tree
    tree_rss_mb: float  # sampled: the most the whole tree held at once
    started_at: float  # epoch seconds, to place the child's log lines in time
    load_before: float  # 1-minute load average: was something else using the CPUs?
    load_after: float
    stdout: Path
    stderr: Path

    def manifest(self) -> dict[str, Any]:
        """The worker's manifest: its last stdout line."""
        lines = self.stdout.read_text().strip().splitlines()
        return json.loads(lines[-1]) if lines else {}

    def events(self) -> list[tuple[float, str]]:
        """(seconds since the child started, message) for each log line it wrote to stderr."""
        found = []
        for line in self.stderr.read_text(errors="replace").splitlines():
            if m := LOG_LINE.match(line):
                at = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.append((at - self.started_at, f"{m[2]}: {m[3]}"))
        return found

    def at(self, pattern: str) -> float:
        """When the first log line matching ``pattern`` was written, in seconds since the start."""
        for seconds, message in self.events():
            if re.search(pattern, message):
                return seconds
        raise LookupError(f"{self.name}: no log line matches {pattern!r} in {self.stderr}")


def measure(name: str, cmd: list[str], logs: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run ``cmd`` to completion with stdout and stderr in ``logs``/``name``.{stdout,stderr}."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / f"{name}.stdout", logs / f"{name}.stderr"
    load_before = os.getloadavg()[0]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started_at = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = _TreeSampler(proc.pid)
        peak.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        peak.stop.set()
        peak.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return Measurement(
        name=name, seconds=seconds, returncode=proc.returncode,
        maxrss_mb=usage.ru_maxrss / 1024, tree_rss_mb=peak.peak_bytes / 2**20,
        started_at=started_at, load_before=load_before, load_after=os.getloadavg()[0],
        stdout=stdout, stderr=stderr,
    )


class _TreeSampler(threading.Thread):
    """The highest sum of RSS over a process and its descendants, sampled until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_bytes = 0

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop.wait(SAMPLE_EVERY_S):
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
