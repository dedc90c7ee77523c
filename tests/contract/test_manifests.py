"""The contract reads every stage's real manifest back byte for byte, and refuses malformed ones by field."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from typing import Any

import pytest

from video_contract.exits import (
    EXIT_CODES,
    ExitCode,
    Failure,
    FailureKind,
    killed_by,
    parse_result_line,
    result_line,
    signal_name,
)
from video_contract.manifests import (
    MANIFESTS,
    CaptionsManifest,
    DetectManifest,
    TranscodeManifest,
    TranscribeManifest,
    read_cues,
    read_manifest,
    read_transcript,
)
from video_contract.records import ManifestError
from video_contract.stages import Stage


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_manifest_reads_back_byte_for_byte(stage_runs, stage):
    run = stage_runs[stage]
    printed = read_manifest(json.loads(run.line))
    assert type(printed) is MANIFESTS[stage]
    assert result_line(printed.to_json()) == run.line
    assert printed.artifacts is not None and printed.manifest_uri.endswith("manifest.json")
    written = read_manifest(json.loads(run.manifest_json))
    assert written.artifacts is None  # manifest.json is written before the upload that names the artifacts
    assert json.dumps(written.to_json(), indent=2) == run.manifest_json


def test_the_reviewed_transcript_is_read_as_captions_and_carries_transcribes_fields(stage_runs):
    reviewed = read_transcript(json.loads(stage_runs[Stage.CAPTIONS].line))
    transcribed = read_transcript(json.loads(stage_runs[Stage.TRANSCRIBE].line))
    assert isinstance(reviewed, CaptionsManifest) and reviewed.review.edited_cues == [0]
    same = {k: v for k, v in transcribed.body_fields().items() if k not in ("cues", "norm_violations")}
    assert {k: v for k, v in reviewed.body_fields().items() if k in same} == same


def test_cues_json_reads_back_byte_for_byte(stage_runs):
    for stage in (Stage.TRANSCRIBE, Stage.CAPTIONS):
        raw = (stage_runs[stage].dest / "cues.json").read_text(encoding="utf-8")
        cues = read_cues(json.loads(raw))
        assert cues and json.dumps([c.to_json() for c in cues], ensure_ascii=False) == raw
    assert cues[0].lines == ["A reviewed first line."]


def _transcode(stage_runs) -> dict[str, Any]:
    return json.loads(stage_runs[Stage.TRANSCODE].line)


def _broken(data: dict[str, Any], change) -> dict[str, Any]:
    data = copy.deepcopy(data)
    change(data)
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.pop("renditions"), "the transcode manifest: missing field 'renditions'"),
    (lambda m: m["renditions"][1].pop("width"), r"the transcode manifest.renditions[1]: missing field 'width'"),
    (lambda m: m.update(colour="red"), "the transcode manifest: unknown field 'colour'"),
    (lambda m: m["renditions"][0].update(width="640"), "the transcode manifest.renditions[0].width: expected int, "
                                                       "got str '640'"),
    (lambda m: m["renditions"][0].update(width=True), "the transcode manifest.renditions[0].width: expected int"),
    (lambda m: m.update(has_audio=None), "the transcode manifest.has_audio: expected bool, got null"),
    (lambda m: m.update(clips="clip_000.mp4"), "the transcode manifest.clips: expected list"),
    (lambda m: m["artifacts"].update({"manifest.json": 3}), "the transcode manifest.artifacts.manifest.json: "
                                                            "expected str"),
    (lambda m: m.update(stage="detect"), "\"stage\" is 'detect', not 'transcode'"),
])
def test_a_malformed_manifest_is_refused_naming_the_field(stage_runs, change, message):
    with pytest.raises(ManifestError) as refused:
        TranscodeManifest.from_json(_broken(_transcode(stage_runs), change))
    assert message in str(refused.value)


def test_a_nested_record_names_its_path(stage_runs):
    detect = json.loads(stage_runs[Stage.DETECT].line)
    assert detect["animals"], "the cat clip shows a cat"
    detect["animals"][0]["votes"]["cat"] = "high"
    with pytest.raises(ManifestError, match=r"the detect manifest\.animals\[0\]\.votes\.cat: expected float"):
        DetectManifest.from_json(detect)


@pytest.mark.parametrize("data", [{"stage": "encode"}, {"source": "x"}, ["probe"], None])
def test_read_manifest_refuses_what_is_no_stage_manifest(data):
    with pytest.raises(ManifestError, match="not a stage manifest"):
        read_manifest(data)


@pytest.mark.parametrize("kind", list(FailureKind))
def test_a_failure_round_trips_through_its_result_line(kind):
    failure = Failure("The file is empty (0 bytes).", kind, Stage.PROBE.value)
    line = result_line(failure.to_json())
    assert Failure.from_json(parse_result_line(line)) == failure
    assert failure.permanent == (kind is not FailureKind.TRANSIENT)
    assert failure.exit_code == EXIT_CODES[kind]


@pytest.mark.parametrize("data", [{"kind": "input"}, {"error": 3}, {"error": "x", "kind": "fatal"}, "error"])
def test_a_malformed_failure_is_refused(data):
    with pytest.raises(ManifestError):
        Failure.from_json(data)


def test_the_clis_failure_lines_follow_the_contract(model_env, tmp_path):
    """Three real failures: a missing source (input), a bad option (usage), a bad setting (config)."""
    cases = [
        (["probe", "--source", tmp_path / "missing.mp4"], {}, FailureKind.INPUT, "does not exist"),
        (["probe", "--source", tmp_path / "x.mp4", "--max-duration", "soon"], {}, FailureKind.USAGE, "--max-duration"),
        (["probe", "--source", tmp_path / "x.mp4"], {"VIDEO_WORKER_CRF": "abc"}, FailureKind.CONFIG,
         "VIDEO_WORKER_CRF='abc': Input should be a valid integer"),
    ]
    for args, env, kind, words in cases:
        proc = subprocess.run(["video-worker", *map(str, args), "--dest", str(tmp_path / "out")],
                              capture_output=True, text=True, env={**os.environ, **model_env, **env}, check=False)
        failure = Failure.from_json(parse_result_line(proc.stdout.splitlines()[-1]))
        assert (failure.kind, proc.returncode) == (kind, EXIT_CODES[kind]), proc.stdout
        assert words in failure.error


@pytest.mark.parametrize(("exit_code", "signal"), [
    (None, None), (ExitCode.OK, None), (ExitCode.RETRY, None), (ExitCode.PERMANENT, None), (ExitCode.USAGE, None),
    (-9, 9), (-15, 15), (137, 9), (143, 15), (128, None), (192, 64), (193, None), (255, None),
])
def test_killed_by_reads_subprocess_and_container_exit_codes(exit_code, signal):
    assert killed_by(exit_code) == signal


def test_signal_names():
    assert (signal_name(9), signal_name(15), signal_name(200)) == ("SIGKILL", "SIGTERM", "signal 200")


def test_a_translation_reads_back_in_the_contracts_order_and_names_its_missing_field(stage_runs):
    transcribe = json.loads(stage_runs[Stage.TRANSCRIBE].line)
    english = {"language": "en", "name": "English", "from": "fr", "cues": 2,
               "subtitles": {"srt": "subtitles.en.srt", "vtt": "subtitles.en.vtt"}, "norm_violations": {"total": 0}}
    transcribe.update(translation=english, translation_skipped=None)
    read = read_manifest(transcribe)
    assert isinstance(read, TranscribeManifest) and read.translation is not None
    assert read.to_json()["translation"] == english and read.translation.from_ == "fr"
    assert list(read.to_json())[-5:] == ["translation", "translation_skipped", "seconds", "cpu_seconds",
                                         "artifacts"]
    del transcribe["translation"]["cues"]
    with pytest.raises(ManifestError, match=r"the transcribe manifest\.translation: missing field 'cues'"):
        read_manifest(transcribe)
