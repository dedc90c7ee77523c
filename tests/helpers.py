"""Small helpers shared by tests."""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class WorkerResult:
    """A ``video-worker`` run: its exit code, its last stdout line as JSON, its log."""

    returncode: int
    manifest: dict
    stderr: str


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def expected_device() -> str:
    """What ``--device auto`` picks on this host: the tests run on CPU machines and GPU hosts alike."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (until someone takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def docker_cli(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """The ``docker`` command, its output as text."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)
