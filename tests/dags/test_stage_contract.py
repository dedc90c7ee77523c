"""The worker's exit-code contract as the local runner's operator sees it, with the real worker CLI.

exit 0: the manifest is the XCom; 2: a permanent input error (fail now, quarantine); 3: invalid
options (fail now); anything else: worth a retry. The docker runner's tests (make test-production)
check the same through DockerOperator.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from local_env import free_port
from operators.video_stage import VideoStageOperator
from video_pipeline.stages import PermanentInputError, stage_outcome


def _stage(stage: str, source, dest, *args: str) -> VideoStageOperator:
    return VideoStageOperator(task_id=stage, stage=stage, source=str(source), dest=str(dest), stage_args=list(args))


@pytest.mark.parametrize(("code", "line", "expected"), [
    (2, {"error": "The file is empty (0 bytes).", "kind": "input"}, PermanentInputError),
    (3, {"error": "bad --ladder", "kind": "usage"}, AirflowFailException),
    (1, {"error": "ConnectionError", "kind": "transient"}, AirflowException),
    (137, None, AirflowException),  # killed (out of memory): no last line at all
    (0, None, AirflowException),  # exit 0 without a manifest is not success
])
def test_exit_codes_map_to_airflow_outcomes(code, line, expected):
    with pytest.raises(expected) as raised:
        stage_outcome("probe", code, json.dumps(line) if line else "")
    assert raised.type is expected  # not merely a subclass: a retryable error must not be a fail-now one
    if line:
        assert line["error"] in str(raised.value)


def test_a_manifest_is_the_result():
    manifest = {"stage": "probe", "artifacts": {"metadata.json": "s3://b/k"}}
    assert stage_outcome("probe", 0, json.dumps(manifest)) == manifest


def test_exit_0_gives_the_manifest(make_media, tmp_path):
    clip = make_media("contract.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    manifest = _stage("probe", clip, tmp_path).execute({})
    assert manifest["stage"] == "probe" and (manifest["width"], manifest["height"]) == (160, 120)
    written = json.loads((tmp_path / "manifest.json").read_text())
    assert written["metadata"] == manifest["metadata"] and manifest["artifacts"]["manifest.json"]


def test_exit_2_is_a_permanent_input_error(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(PermanentInputError) as raised:
        _stage("probe", empty, tmp_path / "out").execute({})
    assert raised.value.reason == "The file is empty (0 bytes)." and raised.value.stage == "probe"


def test_exit_3_fails_without_retry(make_media, tmp_path):
    clip = make_media("contract.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    with pytest.raises(AirflowFailException) as raised:
        _stage("transcode", clip, tmp_path / "out", "--ladder", "720,abc").execute({})
    assert not isinstance(raised.value, PermanentInputError) and "invalid ladder" in str(raised.value)


def test_exit_1_is_retried(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens: S3 is down
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(AirflowException) as raised:
        _stage("probe", "s3://media/incoming/a.mp4", tmp_path / "out").execute({})
    assert type(raised.value) is AirflowException and "exit 1, transient" in str(raised.value)
    assert "Could not connect to the endpoint URL" in str(raised.value)
