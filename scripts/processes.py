"""The local stack's background processes: each in a session of its own, with its pid and log in HOME.

They outlive ``make``, and ``down`` stops each one's whole process group. A pid is only signalled
while its command line is still ours, so a recycled pid is never hit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from local_env import HOME, ROOT

# What the command line of a process we started contains.
PROCESSES = {"airflow": "airflow standalone", "moto": "moto_store.py", "license": "video_pipeline.license",
             "webhooks": "webhook_receiver.py"}


def running(name: str) -> int | None:
    """The pid of our ``name`` process if it is still alive, checked against its command line."""
    pid_file = HOME / f"{name}.pid"
    if not pid_file.is_file():
        return None
    pid = int(pid_file.read_text())
    command = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True).stdout
    if PROCESSES[name] not in command:
        pid_file.unlink()
        return None
    return pid


def start(name: str, command: list[str]) -> subprocess.Popen:
    """Start in a session of its own, so it outlives us and ``down`` can stop its whole process group."""
    HOME.mkdir(parents=True, exist_ok=True)
    with (HOME / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
    (HOME / f"{name}.pid").write_text(str(proc.pid))
    return proc


def stop(name: str, grace_s: float = 30) -> None:
    pid = running(name)
    if pid is None:
        print(f"{name}: not running")
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(pid, signal.SIGKILL)
    (HOME / f"{name}.pid").unlink(missing_ok=True)
    print(f"{name}: stopped")


def answers(url: str) -> int | None:
    """The HTTP status at ``url``, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for(name: str, ready: Callable[[], bool], proc: subprocess.Popen | None, timeout_s: float) -> None:
    """Poll ``ready()`` until it is true; stop with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        code = proc.poll() if proc is not None else None
        if code is not None or time.monotonic() > deadline:
            tail = (HOME / f"{name}.log").read_text(errors="replace").splitlines()[-30:]
            why = f"exited with {code}" if code is not None else f"not ready after {timeout_s:.0f} s"
            sys.exit(f"{name} {why}; the end of {HOME / f'{name}.log'}:\n" + "\n".join(tail))
        time.sleep(1)
