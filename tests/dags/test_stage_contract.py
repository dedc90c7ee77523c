"""The worker's exit-code contract as the runners' operators see it, table-driven.

exit 0: the manifest is the XCom; 2: a permanent input error (fail now, quarantine), or with kind
"changed" a source replaced since register pinned its ETag (fail now, no quarantine); 3: invalid
options or a configuration error such as a tool that cannot be run (fail now, no quarantine);
anything else, a process killed by a signal (out of memory) included: worth a retry.

``CASES`` produces each outcome with real processes: the local runner's table is here, the docker
runner's (``tests/production/test_stage_contract_docker.py``, ``make test-production``) runs the same
rows in the worker image; the kubernetes runner's rows are in ``test_kubernetes_runner.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from local_env import free_port
from video_pipeline.stages import PermanentInputError, SourceChanged, stage_outcome

BUCKET = "contract"
STALE_ETAG = "0" * 32  # no object in the bucket has it: as if clip.mp4 was replaced after register
# A stand-in ffprobe that dies as the out-of-memory killer would end it.
FAKE_FFPROBE = ('d=$(mktemp -d) && printf \'#!/bin/sh\\nkill -KILL $$\\n\' > "$d/ffprobe" '
                '&& chmod +x "$d/ffprobe" && PATH="$d:$PATH"')


@dataclass(frozen=True)
class Case:
    """One row: how a real worker run produces the outcome, and what the operator must raise."""

    id: str
    stage: str
    source: str  # a key in the contract bucket
    args: tuple[str, ...] = ()
    # Worker environment; {worker_bin} is the directory of video-worker, {unreachable} an S3 nobody serves.
    env: dict[str, str] = field(default_factory=dict)
    # Shell run before ``exec video-worker "$@"``: the worker command (local), the entrypoint (docker).
    wrapper: str = ""
    expected: type[Exception] | None = None  # None: success, the manifest
    message: tuple[str, ...] = ()

    def environment(self, worker_bin: str) -> dict[str, str]:
        unreachable = f"http://127.0.0.1:{free_port()}"
        return {k: v.format(worker_bin=worker_bin, unreachable=unreachable) for k, v in self.env.items()}

    def shell(self, worker: str = "video-worker") -> list[str] | None:
        """``sh -c WRAPPER video-worker``, to which the runner appends the worker's arguments."""
        if not self.wrapper:
            return None
        return ["sh", "-c", f'{self.wrapper}\nexec {worker} "$@"', "video-worker"]


CASES = [
    Case("exit 0: the manifest", "probe", "clip.mp4", message=('"width": 160',)),
    Case("exit 0 without a manifest: retried", "probe", "clip.mp4", wrapper="echo all done; exit 0",
         expected=AirflowException, message=("exit 0 without a manifest", "'all done'")),
    Case("exit 1: S3 unreachable, retried", "probe", "clip.mp4",
         env={"AWS_ENDPOINT_URL": "{unreachable}", "AWS_MAX_ATTEMPTS": "1"},
         expected=AirflowException, message=("exit 1, transient", "Could not connect to the endpoint URL")),
    Case("exit 2: an empty file, permanent", "probe", "empty.mp4",
         expected=PermanentInputError, message=("probe: The file is empty (0 bytes).",)),
    Case("exit 2: the source changed since register pinned it, not quarantined", "probe", "clip.mp4",
         args=("--source-etag", STALE_ETAG), expected=SourceChanged,
         message=(f"probe: The source s3://{BUCKET}/clip.mp4 changed during processing: it is no longer the "
                  f"version this run registered (ETag {STALE_ETAG}).",)),
    Case("exit 3: invalid options", "transcode", "clip.mp4", args=("--ladder", "720,abc"),
         expected=AirflowFailException, message=("invalid options", "invalid ladder '720,abc'")),
    Case("exit 3: the packager missing, a configuration error", "package", "ladder/manifest.json",
         env={"VIDEO_WORKER_PACKAGER": "/nonexistent/packager"}, expected=AirflowFailException,
         message=("configuration error", "'/nonexistent/packager'", "No such file or directory",
                  "set VIDEO_WORKER_PACKAGER")),
    Case("exit 3: ffprobe not on PATH, a configuration error", "probe", "clip.mp4",
         env={"PATH": "{worker_bin}"}, expected=AirflowFailException,
         message=("configuration error", "ffprobe cannot be run", "not on PATH ({worker_bin})")),
    Case("the worker killed (SIGKILL): retried", "probe", "clip.mp4", wrapper="kill -KILL $$",
         expected=AirflowException, message=("killed by signal 9 (SIGKILL)", "retried while retries remain")),
    Case("its ffprobe killed (SIGKILL): exit 1, retried, not an input error", "probe", "clip.mp4",
         wrapper=FAKE_FFPROBE, expected=AirflowException,
         message=("exit 1, transient", "ffprobe was killed by signal 9 (SIGKILL")),
]


@pytest.fixture(scope="session")
def contract(s3, make_media) -> str:
    """The rows' inputs in S3, where the local runner and the containers alike read them."""
    clip = make_media("contract.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:  # the docker runner's table ran in this session too
        pass
    s3.upload_file(str(clip), BUCKET, "clip.mp4")
    s3.put_object(Bucket=BUCKET, Key="empty.mp4", Body=b"")
    ladder = {"renditions": [{"name": "120p", "file": "120p.mp4", "width": 160, "height": 120}],
              "has_audio": False, "keyframe_interval_s": 2}
    s3.put_object(Bucket=BUCKET, Key="ladder/manifest.json", Body=json.dumps(ladder).encode())
    s3.upload_file(str(clip), BUCKET, "ladder/120p.mp4")
    return BUCKET


def check(case: Case, run, worker_bin: str) -> Any:
    """Run the operator; the manifest for success, else exactly the expected exception and message."""
    messages = [m.format(worker_bin=worker_bin) for m in case.message]
    if case.expected is None:
        manifest = run()
        assert manifest["stage"] == case.stage and manifest["artifacts"]["manifest.json"]
        assert all(m in json.dumps(manifest) for m in messages), manifest
        return manifest
    with pytest.raises(Exception) as raised:
        run()
    # Exactly: a retryable error must not be a fail-now one, nor a fail-now one a quarantine.
    assert raised.type is case.expected, f"{raised.type.__name__}: {raised.value}"
    assert all(m in str(raised.value) for m in messages), str(raised.value)
    return raised.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_local_runner_maps_every_exit(case, contract, monkeypatch):
    from operators.video_stage import VideoStageOperator

    worker_bin = str(Path(shutil.which("video-worker")).parent)
    for name, value in case.environment(worker_bin).items():
        monkeypatch.setenv(name, value)  # the operator passes its environment to the worker
    shell = case.shell()
    stage = VideoStageOperator(task_id=case.stage, stage=case.stage, source=f"s3://{contract}/{case.source}",
                               dest=f"s3://{contract}/out/local/{case.id}/", stage_args=list(case.args),
                               worker_command=shlex.join(shell) if shell else "video-worker")
    check(case, lambda: stage.execute({}), worker_bin)


@pytest.mark.parametrize(("stage", "niceness"), [("detect", 10), ("previews", 10), ("transcode", 0)])
def test_the_local_runner_runs_background_stages_niced(stage, niceness, tmp_path):
    """Stages only publish waits on yield the CPU to transcode and transcribe: a real process reports its nice."""
    from operators.video_stage import VideoStageOperator

    script = tmp_path / "worker"
    script.write_text('#!/bin/sh\nprintf \'{"stage": "%s", "nice": %s, "group": "%s"}\\n\' "$1" "$(nice)" '
                      '"$(cut -d" " -f3 /proc/self/autogroup 2>/dev/null || echo none)"\n')
    script.chmod(0o755)
    operator = VideoStageOperator(task_id=stage, stage=stage, source="s3://b/in.mp4", dest="s3://b/out/",
                                  stage_args=[], worker_command=str(script))
    result = operator.execute({})
    assert (result["stage"], result["nice"]) == (stage, os.nice(0) + niceness)
    # Where the kernel schedules by session group, the worker's group is niced too (else nice does nothing).
    if Path("/proc/self/autogroup").exists():
        assert result["group"] == str(niceness)


@pytest.mark.parametrize(("code", "line", "expected", "message"), [
    (0, {"stage": "probe", "width": 160}, None, ""),
    (0, None, AirflowException, "exit 0 without a manifest"),  # exit 0 without a manifest is not success
    (0, {"width": 160}, AirflowException, 'not a JSON object with a "stage"'),
    (0, [1, 2], AirflowException, "exit 0 without a manifest"),
    (1, {"error": "ConnectionError", "kind": "transient"}, AirflowException, "exit 1, transient: "),
    (1, "Traceback (most recent call last):", AirflowException, "without a result line"),
    (2, {"error": "The file is empty (0 bytes).", "kind": "input"}, PermanentInputError, "The file is empty"),
    (2, None, PermanentInputError, "exited 2 without a result line"),
    (1, {"error": "not a video", "kind": "input"}, PermanentInputError, "not a video"),  # a wrapper's exit 1
    (2, {"error": "The source s3://b/k changed during processing", "kind": "changed"}, SourceChanged,
     "probe: The source s3://b/k changed during processing"),  # no quarantine: the new object is not this run's
    (1, {"error": "The source changed", "kind": "changed"}, SourceChanged, "The source changed"),  # a wrapper's
    (3, {"error": "bad --ladder", "kind": "usage"}, AirflowFailException, "invalid options: bad --ladder"),
    (3, {"error": "ffprobe cannot be run", "kind": "config"}, AirflowFailException, "configuration error"),
    (3, None, AirflowFailException, "invalid options"),
    (-9, None, AirflowException, "exit -9: killed by signal 9 (SIGKILL)"),  # a subprocess
    (137, None, AirflowException, "exit 137: killed by signal 9 (SIGKILL)"),  # a container, out of memory
    (143, None, AirflowException, "killed by signal 15 (SIGTERM)"),
    (-9, {"stage": "probe"}, AirflowException, "killed by signal 9"),  # killed after its result: not done
    (124, None, AirflowException, "exit 124, transient"),  # timeout(1)
    (None, None, AirflowException, "exit None, transient"),
])
def test_exit_codes_map_to_airflow_outcomes(code, line, expected, message):
    last_line = line if isinstance(line, str) else json.dumps(line) if line is not None else ""
    if expected is None:
        assert stage_outcome("probe", code, last_line) == line
        return
    with pytest.raises(Exception) as raised:
        stage_outcome("probe", code, last_line)
    assert raised.type is expected  # not merely a subclass: a retryable error must not be a fail-now one
    assert message in str(raised.value)
