"""Worker stage invocations and their outcomes, shared by the local, Docker and Kubernetes runners.

The worker's contract (``video_contract.exits``): exit 0 with the stage's manifest as the last line; 2 for a
permanent input error (kind "input"), or for a source that changed since register pinned its ETag (kind
"changed"); 3 for invalid options or a configuration error (a tool the worker cannot run); all: fail now,
no retry, and only "input" quarantines. Any other exit, a process killed by a signal included (out of
memory), is worth a retry.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from video_contract.exits import ExitCode, Failure, FailureKind, killed_by, parse_result_line, signal_name
from video_contract.manifests import Manifest, read_manifest
from video_contract.records import ManifestError
from video_contract.stages import Stage
from video_pipeline.planning import Invocation

GPU_STAGES = frozenset({Stage.TRANSCRIBE, Stage.DETECT})
# Only publish waits on these, while burn and package wait on transcode and transcribe: on a busy host
# they yield the CPU, so the run's critical path is not slowed by work that can finish alongside it.
BACKGROUND_STAGES = frozenset({Stage.DETECT, Stage.PREVIEWS})
BACKGROUND_NICENESS = 10  # local runner: `nice -n 10`, about a tenth of the CPU of a busy stage at 0
BACKGROUND_CPU_SHARE = 0.25  # docker runner: a quarter of a stage's CPU shares (weights, not limits)
RETRIED = "retried while retries remain"
SEEN_CHARS = 500  # how much of an unexpected last line an error quotes


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


def worker_args(stage: str, invocation: Invocation, dest: str) -> list[str]:
    """The CLI arguments after ``video-worker``; the invocation's ETag pins the version of the source to read."""
    pin = ["--source-etag", invocation.source_etag] if invocation.source_etag else []
    return [str(stage), "--source", invocation.source, *pin, "--dest", dest, *invocation.args]


def stage_outcome(stage: str, exit_code: int | None, last_line: str) -> Manifest:
    """The manifest of a successful run, or the matching Airflow exception.

    The exit code decides; the failure record's ``kind`` only tells a changed source from an
    input error and invalid options from a configuration error, and keeps a wrapper that
    flattens exit codes from turning a permanent error into retries.
    """
    result = parse_result_line(last_line)
    seen = f"the last line was {last_line[-SEEN_CHARS:]!r}" if last_line else "no output"
    if exit_code == ExitCode.OK:
        return _manifest(stage, result, seen)
    failure = _failure(result)
    if (number := killed_by(exit_code)) is not None:
        raise AirflowException(f"{stage} failed (exit {exit_code}: killed by signal {number} "
                               f"({signal_name(number)}), out of memory or stopped; {RETRIED}): "
                               f"{failure.error if failure else seen}")
    if failure is None:
        error, kind = f"exited {exit_code} without a result line: {seen}", None
    else:
        error, kind = failure.error, failure.kind
    if kind is FailureKind.CHANGED:
        raise SourceChanged(stage, error)
    if exit_code == ExitCode.PERMANENT or kind is FailureKind.INPUT:
        raise PermanentInputError(stage, error)
    if kind is FailureKind.CONFIG:
        raise AirflowFailException(f"{stage}: configuration error (the worker's installation or settings, "
                                   f"not the video; fix it, then clear the task): {error}")
    if exit_code == ExitCode.USAGE or kind is FailureKind.USAGE:
        raise AirflowFailException(f"{stage}: invalid options: {error}")
    raise AirflowException(f"{stage} failed (exit {exit_code}, transient: {RETRIED}): {error}")


def _manifest(stage: str, result: dict[str, object] | None, seen: str) -> Manifest:
    """Exit 0: the stage's manifest. Without one, or with one the contract refuses, the run is not done:
    an AirflowException, retried (a wrapper that ate the output, a worker of another version)."""
    if result is None:
        raise AirflowException(f"{stage} failed (exit 0 without a manifest, {RETRIED}): {seen}, not a JSON object")
    try:
        manifest = read_manifest(result)
    except ManifestError as malformed:
        raise AirflowException(f"{stage} failed (exit 0 with a malformed manifest, {RETRIED}): {malformed}") \
            from malformed
    if manifest.STAGE != stage:
        raise AirflowException(f"{stage} failed (exit 0 with the {manifest.STAGE} stage's manifest, {RETRIED})")
    return manifest


def _failure(result: dict[str, object] | None) -> Failure | None:
    """The failure record of the last line, or None where it is none (a log line, a traceback)."""
    if result is None:
        return None
    try:
        return Failure.from_json(result)
    except ManifestError:
        return None
