"""How a stage ends: its exit code, and the result line's failure record when it did not succeed.

Exit 0 with the manifest as the last stdout line; 1 worth a retry (a media tool killed, out of
memory, included); 2 a permanent input error (kind ``input``) or a source that changed since the
run pinned its ETag (``changed``); 3 invalid options (``usage``) or a configuration error
(``config``). The exit code decides; the kind tells the permanent cases apart.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from video_contract.records import ManifestError

# Where a runner that cannot read stdout alone wants the result line too (Kubernetes: the XCom sidecar's file).
RESULT_FILE_VARIABLE = "VIDEO_WORKER_RESULT_FILE"
# Signals end a container's main process with 128+N (Docker, Kubernetes: 137 is SIGKILL, the OOM killer's).
SIGNAL_EXIT_BASE = 128
MAX_SIGNAL = 64


class ExitCode(IntEnum):
    OK = 0
    RETRY = 1
    PERMANENT = 2
    USAGE = 3


class FailureKind(StrEnum):
    INPUT = "input"  # the video can never be processed: quarantined
    CHANGED = "changed"  # the source was replaced or deleted during the run: nothing quarantined
    USAGE = "usage"  # options that can never work
    CONFIG = "config"  # the worker's installation or settings
    TRANSIENT = "transient"  # anything else: retried


EXIT_CODES: dict[FailureKind, ExitCode] = {
    FailureKind.INPUT: ExitCode.PERMANENT,
    FailureKind.CHANGED: ExitCode.PERMANENT,
    FailureKind.USAGE: ExitCode.USAGE,
    FailureKind.CONFIG: ExitCode.USAGE,
    FailureKind.TRANSIENT: ExitCode.RETRY,
}


@dataclass(frozen=True)
class Failure:
    """The last line of a stage that did not succeed."""

    error: str
    kind: FailureKind
    stage: str | None

    @property
    def permanent(self) -> bool:
        return self.kind is not FailureKind.TRANSIENT

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {"error": self.error, "permanent": self.permanent, "kind": self.kind.value, "stage": self.stage}

    @classmethod
    def from_json(cls, data: object) -> Failure:
        if not isinstance(data, dict) or not isinstance(data.get("error"), str):
            raise ManifestError(f"not a failure record (an object with an \"error\"): {str(data)[:200]}")
        try:
            kind = FailureKind(str(data.get("kind")))
        except ValueError:
            raise ManifestError(f"unknown failure kind {data.get('kind')!r}; "
                                f"one of {', '.join(FailureKind)}") from None
        stage = data.get("stage")
        return cls(data["error"], kind, stage if isinstance(stage, str) else None)


def result_line(payload: dict[str, Any]) -> str:
    """The one JSON line a stage prints last."""
    return json.dumps(payload, separators=(",", ":"))


def parse_result_line(line: str) -> dict[str, Any] | None:
    """The result line's object, or None when the line is not a JSON object (a log line, nothing)."""
    try:
        result = json.loads(line) if line else None
    except json.JSONDecodeError:
        return None
    return result if isinstance(result, dict) else None


def killed_by(exit_code: int | None) -> int | None:
    """The signal that ended the worker: a negative code from a subprocess, 128+N from a container's."""
    if exit_code is None:
        return None
    if exit_code < 0:
        return -exit_code
    if SIGNAL_EXIT_BASE < exit_code <= SIGNAL_EXIT_BASE + MAX_SIGNAL:
        return exit_code - SIGNAL_EXIT_BASE
    return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
