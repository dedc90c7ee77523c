"""Worker stage invocations and their outcomes, shared by the local, Docker and Kubernetes runners.

The worker's contract: exit 0 with a JSON manifest as the last line; 2 for a
permanent input error (kind "input"), or for a source that changed since register
pinned its ETag (kind "changed"); 3 for invalid options or a configuration error (a
tool the worker cannot run); all: fail now, no retry, and only "input" quarantines.
Any other exit, a process killed by a signal included (out of memory), is worth a retry.
"""

from __future__ import annotations

import json
import signal
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

GPU_STAGES = frozenset({"transcribe", "detect"})
# Only publish waits on these, while burn and package wait on transcode and transcribe: on a busy host
# they yield the CPU, so the run's critical path is not slowed by work that can finish alongside it.
BACKGROUND_STAGES = frozenset({"detect", "previews"})
BACKGROUND_NICENESS = 10  # local runner: `nice -n 10`, about a tenth of the CPU of a busy stage at 0
BACKGROUND_CPU_SHARE = 0.25  # docker runner: a quarter of a stage's CPU shares (weights, not limits)
RETRIED = "retried while retries remain"


class PermanentFailure(AirflowFailException):
    """This video id can never be processed: fail without retries (sweeps skip it too), say why."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class PermanentInputError(PermanentFailure):
    """The video itself can never be processed: quarantine it as well."""


class SourceChanged(PermanentFailure):
    """The upload was replaced or deleted during the run: nothing to quarantine, since the new
    object is not what this run checked; it gets its own run (its ETag, its own video id)."""


def worker_args(stage: str, source: str, dest: str, stage_args: list[str] | None,
                source_etag: str | None = None) -> list[str]:
    """The CLI arguments after ``video-worker``; ``source_etag`` pins the version of the source to read."""
    pin = ["--source-etag", source_etag] if source_etag else []
    return [stage, "--source", source, *pin, "--dest", dest, *(stage_args or [])]


def killed_by(exit_code: int | None) -> int | None:
    """The signal that ended the worker: a negative exit code from a subprocess, 128+N from a
    container's main process (Docker, Kubernetes: 137 is SIGKILL, the out-of-memory killer's)."""
    if exit_code is None:
        return None
    if exit_code < 0:
        return -exit_code
    if 128 < exit_code < 128 + 65:
        return exit_code - 128
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _result_line(last_line: str) -> dict[str, Any]:
    try:
        result = json.loads(last_line) if last_line else {}
    except json.JSONDecodeError:
        return {}
    return result if isinstance(result, dict) else {}


def stage_outcome(stage: str, exit_code: int | None, last_line: str) -> dict[str, Any]:
    """The manifest of a successful run, or the matching Airflow exception.

    The exit code decides; the result line's ``kind`` only tells a changed source from an
    input error and invalid options from a configuration error, and keeps a wrapper that
    flattens exit codes from turning a permanent error into retries.
    """
    result = _result_line(last_line)
    seen = f"the last line was {last_line[-500:]!r}" if last_line else "no output"
    if exit_code == 0:
        if isinstance(result.get("stage"), str):
            return result
        raise AirflowException(f"{stage} failed (exit 0 without a manifest, {RETRIED}): "
                               f"{seen}, not a JSON object with a \"stage\"")
    if (number := killed_by(exit_code)) is not None:
        raise AirflowException(f"{stage} failed (exit {exit_code}: killed by signal {number} "
                               f"({_signal_name(number)}), out of memory or stopped; {RETRIED}): "
                               f"{result.get('error') or seen}")
    error = result.get("error") or f"exited {exit_code} without a result line: {seen}"
    kind = result.get("kind")
    if kind == "changed":
        raise SourceChanged(stage, error)
    if exit_code == 2 or kind == "input":
        raise PermanentInputError(stage, error)
    if kind == "config":
        raise AirflowFailException(f"{stage}: configuration error (the worker's installation or settings, "
                                   f"not the video; fix it, then clear the task): {error}")
    if exit_code == 3 or kind == "usage":
        raise AirflowFailException(f"{stage}: invalid options: {error}")
    raise AirflowException(f"{stage} failed (exit {exit_code}, transient: {RETRIED}): {error}")
