"""Small helpers shared by tests."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


def docker_cli(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """The ``docker`` command, its output as text."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 2) -> Any:
    """Poll ``check`` until it gives something true, and return that; fail saying what did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(every_s)


def bootstrapped_settings(moto_endpoint: str, bucket: str) -> Any:
    """The deployment's settings with their own bucket and table, both made on the moto server."""
    import boto3

    from video_pipeline.bootstrap import bootstrap
    from video_pipeline.config import Settings

    settings = Settings.from_env(bucket=bucket, table=f"{bucket}-videos")
    bootstrap(s3=boto3.client("s3", endpoint_url=moto_endpoint),
              dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint), settings=settings)
    return settings


@dataclass
class WebhookReceiver:
    """scripts/webhook_receiver.py, running: where it listens, and what it got."""

    url: str
    process: subprocess.Popen

    def deliveries(self) -> list[dict]:
        """Each delivery as it lists them (GET /events): when, its answer, the event or why it was refused."""
        import httpx

        return httpx.get(self.url, timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_webhook_receiver(folder: Path, secret: str, fail_first: int = 0) -> WebhookReceiver:
    """The receiver as ``make demo`` starts it, the secret in a file, on a free port of 127.0.0.1, with its
    log and deliveries in ``folder``; ready when this returns."""
    import sys

    from local_env import ROOT, free_port
    from processes import answers

    port = free_port()
    secret_file = folder / f"webhook-secret-{port}"
    secret_file.write_text(secret)
    log = folder / f"webhook-receiver-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "webhook_receiver.py"), "--port", str(port), "--secret-file",
             str(secret_file), "--record", str(folder / f"webhook-deliveries-{port}.jsonl"),
             "--fail-first", str(fail_first)], stdout=out, stderr=subprocess.STDOUT)
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/events", process)
    wait_until(lambda: answers(receiver.url) == 200 or process.poll() is not None, 30, "the webhook receiver", 0.2)
    assert process.poll() is None, log.read_text()
    return receiver
