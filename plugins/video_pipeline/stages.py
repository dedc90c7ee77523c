"""Worker stage invocations and their outcomes, shared by the local and Docker runners.

The worker's contract: exit 0 with a JSON manifest as the last line; 2 for a
permanent input error, 3 for invalid options (both: fail now, no retry); any
other exit is worth a retry.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

GPU_STAGES = frozenset({"transcribe", "detect"})


class PermanentInputError(AirflowFailException):
    """The video itself can never be processed: fail without retries, quarantine it, say why."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


def worker_args(stage: str, source: str, dest: str, stage_args: list[str] | None) -> list[str]:
    """The CLI arguments after ``video-worker``."""
    return [stage, "--source", source, "--dest", dest, *(stage_args or [])]


def stage_outcome(stage: str, exit_code: int | None, last_line: str) -> dict[str, Any]:
    """The manifest of a successful run, or the matching Airflow exception."""
    try:
        result = json.loads(last_line) if last_line else {}
    except json.JSONDecodeError:
        result = {}
    if exit_code == 0 and "stage" in result:
        return result
    error = result.get("error") or f"exited {exit_code} without a result line: {last_line[-500:]!r}"
    if exit_code == 2 or result.get("kind") == "input":
        raise PermanentInputError(stage, error)
    if exit_code == 3 or result.get("kind") == "usage":
        raise AirflowFailException(f"{stage}: invalid options: {error}")
    raise AirflowException(f"{stage} failed (exit {exit_code}, transient: retried while retries remain): {error}")
