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

SAMPLE_EVERY_S = 0.05  # the tree samplers' period: a process loses at most this much of its time at exit
# Others run tests on this machine at times: above this many of its cores, they competed with the measured run.
CONTENDED_CORES = 0.25
TICK_NOISE_S = 0.1  # /proc/stat counts in 10 ms ticks: a run of a few ms cannot be judged finer than this
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ ([\w.]+): (.*)$")


@dataclass(frozen=True)
class Measurement:
    name: str
    seconds: float
    returncode: int
    cpu_seconds: float  # user + system time of the child and every descendant it waited for
    others_cpu_seconds: float  # CPU the rest of the machine (hypervisor steal included) used meanwhile
    maxrss_mb: float  # wait4: the largest single process of the tree
    tree_rss_mb: float  # sampled: the most the whole tree held at once
    started_at: float  # epoch seconds, to place the child's log lines in time
    stdout: Path
    stderr: Path
    repeats: tuple[float, ...] = ()  # wall seconds of every repeat of this command, this one among them

    @property
    def cpu_share(self) -> float:
        """CPU time over wall time: 2.0 means both of two cores were busy throughout."""
        return self.cpu_seconds / self.seconds

    @property
    def others_share(self) -> float:
        """Cores that other processes kept busy, on average, while this ran."""
        return self.others_cpu_seconds / self.seconds

    @property
    def disturbed(self) -> bool:
        """Other processes used enough CPU meanwhile to skew this run's time."""
        return self.others_cpu_seconds > max(CONTENDED_CORES * self.seconds, TICK_NOISE_S)

    @property
    def peak_mb(self) -> float:
        """The higher of the two memory figures, for the limit check."""
        return max(self.maxrss_mb, self.tree_rss_mb)

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
    with stdout.open("wb") as out, stderr.open("wb") as err:
        busy_before = machine_busy_seconds()
        started_at = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = _TreeSampler(proc.pid)
        peak.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        machine_busy = machine_busy_seconds() - busy_before
        peak.stop.set()
        peak.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return Measurement(
        name=name, seconds=seconds, returncode=proc.returncode,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        others_cpu_seconds=max(0.0, machine_busy - usage.ru_utime - usage.ru_stime),
        maxrss_mb=usage.ru_maxrss * 1024 / 1e6, tree_rss_mb=peak.peak_bytes / 1e6,
        started_at=started_at, stdout=stdout, stderr=stderr,
    )


def wait_for_quiet(max_wait_s: float, window_s: float = 1.0) -> tuple[float, float]:
    """Wait until the rest of the machine uses under CONTENDED_CORES, or ``max_wait_s`` has passed.

    Called between runs, when the benchmark itself is idle. Returns the cores others used in the last
    window, and the seconds waited.
    """
    started = time.monotonic()
    while True:
        before = machine_busy_seconds()
        time.sleep(window_s)
        others = (machine_busy_seconds() - before) / window_s
        waited = time.monotonic() - started
        if others <= CONTENDED_CORES or waited >= max_wait_s:
            return others, waited


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat, in clock ticks)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    busy = sum(ticks[:8]) - idle  # guest time is already counted in user time
    return busy / os.sysconf("SC_CLK_TCK")


class TreeSampler(threading.Thread):
    """Looks at a process and its descendants every SAMPLE_EVERY_S until stopped (``sample``)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()

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
            self.sample(procs)

    def sample(self, procs: list[psutil.Process]) -> None:
        raise NotImplementedError


class _TreeSampler(TreeSampler):
    """The highest sum of RSS over a process and its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.peak_bytes = 0

    def sample(self, procs: list[psutil.Process]) -> None:
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        self.peak_bytes = max(self.peak_bytes, total)
