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

from video_contract.manifests import Rendition, TranscodeManifest, read_manifest
from video_pipeline.registration import Registration
from video_pipeline.stages import PermanentInputError, SourceChanged, stage_outcome

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "manifests.json"  # real worker output

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
    source: str  # a key in the contract bucket: the upload, or (package) the ladder's manifest
    params: dict[str, Any] = field(default_factory=dict)  # the run's params, which the stage plans its options from
    etag: str | None = None  # the version register pinned; None: the object's own
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
         etag=STALE_ETAG, expected=SourceChanged,
         message=(f"probe: The source s3://{BUCKET}/clip.mp4 changed during processing: it is no longer the "
                  f"version this run registered (ETag {STALE_ETAG}).",)),
    Case("exit 3: invalid options", "transcode", "clip.mp4", params={"ladder": "720,abc"},
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
    rendition = Rendition(name="120p", file="120p.mp4", width=160, height=120, video_codec="h264", bit_rate=None,
                          size_bytes=clip.stat().st_size)
    ladder = TranscodeManifest(source=f"s3://{BUCKET}/clip.mp4", dest=f"s3://{BUCKET}/ladder", duration_s=1.0,
                               source_width=160, source_height=120, renditions=[rendition], top="120p.mp4", clips=[],
                               has_audio=False, keyframe_interval_s=2.0)
    s3.put_object(Bucket=BUCKET, Key="ladder/manifest.json", Body=json.dumps(ladder.to_json()).encode())
    s3.upload_file(str(clip), BUCKET, "ladder/120p.mp4")
    return BUCKET


def fixture_manifests() -> dict[str, dict[str, Any]]:
    return json.loads(FIXTURES.read_text())


def stage_inputs(case: Case, s3, bucket: str, runner: str) -> dict[str, Any]:
    """The stage operator's XComs for a row: register's, for the row's object, and (package) transcode's
    manifest naming the row's ladder; ``render`` plans the worker call from them as a run does."""
    upload = "clip.mp4" if case.stage == "package" else case.source
    etag = case.etag or s3.head_object(Bucket=bucket, Key=upload)["ETag"].strip('"')
    registration = Registration(video_id="contract", bucket=bucket, key=upload, etag=etag, name=None,
                                source=f"s3://{bucket}/{upload}", work=f"s3://{bucket}/out/{runner}/{case.id}",
                                done=False)
    upstream = []
    if case.stage == "package":
        ladder = TranscodeManifest.from_json(fixture_manifests()["transcode"])
        upstream.append({**ladder.to_json(), "artifacts": {"manifest.json": f"s3://{bucket}/{case.source}"}})
    return {"stage": case.stage, "registration": registration.to_json(), "upstream": upstream}


def render(task, case: Case) -> None:
    """What Airflow does before the task runs: its XComs and params rendered, its invocation planned."""
    task.render_template_fields({"params": case.params, "task": task})


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


def test_every_row_reads_the_object_its_case_names(s3, contract):
    """The rows plan their worker calls as a run does: the upload pinned, or (package) the ladder."""
    from operators.local_stage import VideoStageOperator

    for case in CASES:
        stage = VideoStageOperator(task_id=case.stage, **stage_inputs(case, s3, contract, "local"))
        render(stage, case)
        args = stage.cli_args()
        assert args[:3] == [case.stage, "--source", f"s3://{contract}/{case.source}"], (case.id, args)
        pinned = args[args.index("--source-etag") + 1] if "--source-etag" in args else None
        assert (pinned is None) == (case.stage == "package"), (case.id, args)  # the ladder is this run's own
        assert (pinned == STALE_ETAG) == (case.etag == STALE_ETAG), (case.id, args)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_local_runner_maps_every_exit(case, s3, contract, monkeypatch):
    from operators.local_stage import VideoStageOperator

    worker = shutil.which("video-worker")
    assert worker, "video-worker is on PATH"
    worker_bin = str(Path(worker).parent)
    for name, value in case.environment(worker_bin).items():
        monkeypatch.setenv(name, value)  # the operator passes its environment to the worker
    shell = case.shell()
    stage = VideoStageOperator(task_id=case.stage, **stage_inputs(case, s3, contract, "local"),
                               worker_command=shlex.join(shell) if shell else "video-worker")
    render(stage, case)
    check(case, lambda: stage.execute({}), worker_bin)


@pytest.mark.parametrize(("stage", "niceness"), [("detect", 10), ("previews", 10), ("transcode", 0)])
def test_the_local_runner_runs_background_stages_niced(stage, niceness, tmp_path):
    """Stages only publish waits on yield the CPU to transcode and transcribe: a real process reports its nice."""
    from operators.local_stage import VideoStageOperator

    niced, manifest = tmp_path / "niced", tmp_path / "manifest.json"
    manifest.write_text(json.dumps(fixture_manifests()[stage]))  # what the stage prints last: its manifest
    script = tmp_path / "worker"
    script.write_text(f'#!/bin/sh\nprintf \'%s %s\' "$(nice)" '
                      f'"$(cut -d" " -f3 /proc/self/autogroup 2>/dev/null || echo none)" > {niced}\ncat {manifest}\n')
    script.chmod(0o755)
    case = Case(stage, stage, "clip.mp4", etag="0" * 32)
    registration = stage_inputs(case, None, "b", "local")["registration"]
    operator = VideoStageOperator(task_id=stage, stage=stage, registration=registration, worker_command=str(script))
    render(operator, case)
    assert operator.execute({}) == fixture_manifests()[stage]
    nice, group = niced.read_text().split()
    assert int(nice) == os.nice(0) + niceness
    # Where the kernel schedules by session group, the worker's group is niced too (else nice does nothing).
    if Path("/proc/self/autogroup").exists():
        assert group == str(niceness)


@pytest.mark.parametrize(("code", "line", "expected", "message"), [
    (0, "probe", None, ""),  # a stage's name: its real manifest (tests/unit/fixtures)
    (0, None, AirflowException, "exit 0 without a manifest"),  # exit 0 without a manifest is not success
    (0, {"width": 160}, AirflowException, "exit 0 with a malformed manifest"),
    (0, {"stage": "probe", "width": 160}, AirflowException,  # a worker of another version: retried, named
     "exit 0 with a malformed manifest, retried while retries remain): the probe manifest: missing field"),
    (0, "transcode", AirflowException, "exit 0 with the transcode stage's manifest"),
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
    line = fixture_manifests().get(line, line) if isinstance(line, str) else line
    last_line = line if isinstance(line, str) else json.dumps(line) if line is not None else ""
    if expected is None:
        manifest = stage_outcome("probe", code, last_line)
        assert manifest == read_manifest(line) and manifest.to_json() == line
        return
    with pytest.raises(Exception) as raised:
        stage_outcome("probe", code, last_line)
    assert raised.type is expected  # not merely a subclass: a retryable error must not be a fail-now one
    assert message in str(raised.value)
