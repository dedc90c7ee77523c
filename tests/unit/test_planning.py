"""Each stage's worker invocation, planned from a run's options and real stage manifests: no Airflow, no S3.

``fixtures/manifests.json`` holds every stage's result line from a real worker run on a clip with speech
and a cat (``/tmp/mf/run_all.sh``), its paths moved under ``s3://media/work/0123456789abcdef``; its
``cpu_seconds``, which the envelope gained later, are its ``seconds`` times each stage's CPU over wall in the
stage profile of BENCHMARKS.md ("Where each second goes"), and its cat's ``candidates`` and ``second_looks``
(two views of its three clearest frames), which detect's animals gained later, what that cat gets now.
Transcode's ``loudness``, the transcripts' ``speakers`` and the chapters stage's line, which came later
still, are a real worker's on the same kind of clip (640x480, 8 s, the cat photo with espeak-ng speech).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from video_contract.manifests import (
    CaptionsManifest,
    DetectManifest,
    Manifest,
    SubtitleFiles,
    TranscodeManifest,
    TranscribeManifest,
    Translation,
    read_manifest,
)
from video_contract.stages import Stage
from video_pipeline.planning import Inputs, Invocation, RunOptions, plan, subtitle_track_args
from video_pipeline.registration import Registration

FIXTURES = Path(__file__).parent / "fixtures"
WORK = "s3://media/work/0123456789abcdef"
ETAG = "9e107d9d372bb6826bd81d3542a419d6"
VIDEO = Registration(video_id="0123456789abcdef", bucket="media", key="incoming/clip.mp4", etag=ETAG, name=None,
                     source="s3://media/incoming/clip.mp4", work=WORK, done=False)
KEY_URI = "s3://media/keys/00112233445566778899aabbccddeeff.json"


@pytest.fixture(scope="module")
def manifests() -> dict[str, Manifest]:
    return {stage: read_manifest(data) for stage, data in json.loads((FIXTURES / "manifests.json").read_text()).items()}


def inputs(manifests: dict[str, Manifest], *stages: str, params: dict[str, object] | None = None,
           video: Registration = VIDEO, review_texts: str | None = None) -> Inputs:
    """A run's inputs: its params over the defaults, and the manifests of ``stages``."""
    options = RunOptions.from_params(params or {}, RunOptions())
    return Inputs.of(options, video, [manifests[stage] for stage in stages], review_texts)


def translated(transcript: TranscribeManifest) -> TranscribeManifest:
    """The transcript with an English translation track, as transcribe writes one for French speech."""
    translation = Translation(language="en", name="English", from_="fr", cues=3,
                              subtitles=SubtitleFiles(srt="subtitles.en.srt", vtt="subtitles.en.vtt"),
                              norm_violations={"total": 0})
    artifacts = {**(transcript.artifacts or {}), **{name: f"{transcript.dest}/{name}"
                                                    for name in ("subtitles.en.srt", "subtitles.en.vtt")}}
    return dataclasses.replace(transcript, language="fr", translation=translation, artifacts=artifacts)


def planned(stage: Stage, run: Inputs) -> Invocation:
    """The stage's invocation, where the test expects the stage to run."""
    invocation = plan(stage, run)
    assert invocation is not None, f"{stage} has nothing to do"
    return invocation


def test_planning_imports_neither_airflow_nor_an_s3_client():
    code = ("import sys, video_pipeline.planning; "
            "print(sorted({'airflow', 'boto3', 'botocore', 'pydantic'} & {n.split('.')[0] for n in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_param_left_empty_takes_its_default_and_params_that_are_no_option_are_left_out():
    defaults = RunOptions(review=True)
    options = RunOptions.from_params({"video_key": "incoming/a.mp4", "review": None, "detect": False, "burn": None,
                                      "ladder": "", "language": "fr", "detect_fps": 2.5}, defaults)
    assert (options.review, options.detect, options.burn, options.encrypt) == (True, False, True, False)
    assert (options.ladder, options.language, options.detect_fps) == (None, "fr", 2.5)
    assert RunOptions.from_params({"review": False}, defaults).review is False


def test_the_stages_that_read_the_upload_pin_the_version_register_saw(manifests):
    planned = {stage: plan(stage, inputs(manifests, "probe", "detect")) for stage in
               (Stage.PROBE, Stage.TRANSCODE, Stage.TRANSCRIBE, Stage.DETECT, Stage.PREVIEWS)}
    assert {p.source for p in planned.values() if p} == {"s3://media/incoming/clip.mp4"}
    assert {p.source_etag for p in planned.values() if p} == {ETAG}
    assert planned[Stage.PROBE] == Invocation(VIDEO.source, ETAG, [])
    assert planned[Stage.TRANSCODE] == Invocation(VIDEO.source, ETAG, [])  # the worker's own ladder
    assert planned[Stage.TRANSCRIBE] == Invocation(VIDEO.source, ETAG, ["--translate"])


def test_the_run_options_become_the_stages_cli_options(manifests):
    params = {"ladder": "720,360", "whisper_model": "small", "language": "fr", "translate": False,
              "detect_model": "yolo11s.pt", "detect_classes": "cat,dog", "detect_fps": 2}
    run = inputs(manifests, "probe", params=params)
    assert planned(Stage.TRANSCODE, run).args == ["--ladder", "720,360"]
    assert planned(Stage.TRANSCRIBE, run).args == ["--model", "small", "--language", "fr", "--no-translate"]
    assert planned(Stage.DETECT, run).args == ["--model", "yolo11s.pt", "--classes", "cat,dog", "--fps", "2"]


@pytest.mark.parametrize("stage", [Stage.TRANSCRIBE, Stage.DETECT, Stage.PREVIEWS, Stage.BURN, Stage.CHAPTERS,
                                   Stage.PACKAGE])
def test_a_stage_switched_off_has_nothing_to_do(manifests, stage):
    run = inputs(manifests, "probe", "transcode", "transcribe", "detect", params={stage.value: False})
    assert plan(stage, run) is None
    assert plan(stage, inputs(manifests, "probe", "transcode", "transcribe", "detect")) is not None


def test_previews_take_detects_findings_when_detect_ran(manifests):
    detected = planned(Stage.PREVIEWS, inputs(manifests, "probe", "detect"))
    assert detected.args == ["--detections", f"{WORK}/detect/detections.json"]
    assert detected.args[1] == manifests["detect"].uri(DetectManifest.DETECTIONS)
    assert planned(Stage.PREVIEWS, inputs(manifests, "probe")).args == []  # detect off: the poster by quality alone


def test_captions_run_only_on_a_review_answer_with_text(manifests):
    texts = f"{WORK}/review/texts.json"
    reviewed = plan(Stage.CAPTIONS, inputs(manifests, "probe", "transcribe", review_texts=texts))
    assert reviewed == Invocation(f"{WORK}/transcribe/manifest.json", None, ["--texts", texts])  # no upload pin
    assert plan(Stage.CAPTIONS, inputs(manifests, "probe", "transcribe")) is None  # approved as transcribed
    assert plan(Stage.CAPTIONS, inputs(manifests, "probe", review_texts=texts)) is None  # transcribe was off


def test_burn_burns_the_top_rendition_with_the_transcripts_srt_then_its_translations(manifests):
    top = manifests["transcode"]
    assert isinstance(top, TranscodeManifest) and top.top == "renditions/360p.mp4"
    burned = plan(Stage.BURN, inputs(manifests, "probe", "transcode", "transcribe"))
    assert burned == Invocation(f"{WORK}/transcode/renditions/360p.mp4", None,
                                ["--subtitles", f"en={WORK}/transcribe/subtitles.srt"])
    french = dataclasses.replace(inputs(manifests, "probe", "transcode"),
                                 transcribe=translated(manifests["transcribe"]))
    assert planned(Stage.BURN, french).args == ["--subtitles", f"fr={WORK}/transcribe/subtitles.srt",
                                                "--subtitles", f"en={WORK}/transcribe/subtitles.en.srt"]


def test_after_a_review_the_reviewed_captions_are_burned_and_packaged(manifests):
    captions = manifests["captions"]
    assert isinstance(captions, CaptionsManifest)
    run = inputs(manifests, "probe", "transcode", "transcribe", "captions")
    assert run.transcript is captions
    assert planned(Stage.BURN, run).args == ["--subtitles", f"en={WORK}/captions/subtitles.srt"]
    assert planned(Stage.PACKAGE, run).args == ["--subtitles", f"en={WORK}/captions/subtitles.vtt"]


def test_without_speech_nothing_is_burned_and_nothing_subtitled(manifests):
    silent = dataclasses.replace(manifests["transcribe"], speech=False, language=None)
    run = dataclasses.replace(inputs(manifests, "probe", "transcode"), transcribe=silent)
    assert plan(Stage.BURN, run) is None
    assert plan(Stage.PACKAGE, run) == Invocation(f"{WORK}/transcode/manifest.json", None, [])
    assert plan(Stage.BURN, inputs(manifests, "probe", "transcode")) is None  # transcribe off


def test_chapters_cut_the_smallest_rendition_at_the_final_transcripts_pauses(manifests):
    run = inputs(manifests, "probe", "transcode", "transcribe")
    assert plan(Stage.CHAPTERS, run) == Invocation(f"{WORK}/transcode/renditions/240p.mp4", None,
                                                   ["--cues", f"{WORK}/transcribe/cues.json"])
    reviewed = inputs(manifests, "probe", "transcode", "transcribe", "captions")
    assert planned(Stage.CHAPTERS, reviewed).args == ["--cues", f"{WORK}/captions/cues.json"]
    silent = dataclasses.replace(manifests["transcribe"], speech=False, language=None)
    numbered = dataclasses.replace(inputs(manifests, "probe", "transcode"), transcribe=silent)
    assert planned(Stage.CHAPTERS, numbered).args == []  # no speech: "Chapter 1", "Chapter 2", ...
    assert planned(Stage.CHAPTERS, inputs(manifests, "probe", "transcode")).args == []  # transcribe off
    assert plan(Stage.CHAPTERS, inputs(manifests, "probe", "transcode", params={"encrypt": True})) is None


def test_package_packages_the_ladder_with_vtt_tracks(manifests):
    run = dataclasses.replace(inputs(manifests, "probe", "transcode"), transcribe=translated(manifests["transcribe"]))
    assert plan(Stage.PACKAGE, run) == Invocation(f"{WORK}/transcode/manifest.json", None, [
        "--subtitles", f"fr={WORK}/transcribe/subtitles.vtt", "--subtitles", f"en={WORK}/transcribe/subtitles.en.vtt"])


def test_an_encrypted_stream_gets_the_videos_key_and_no_subtitle_track_in_the_clear(manifests):
    keyed = dataclasses.replace(VIDEO, key_uri=KEY_URI)
    run = inputs(manifests, "probe", "transcode", "transcribe", params={"encrypt": True}, video=keyed)
    assert plan(Stage.PACKAGE, run) == Invocation(f"{WORK}/transcode/manifest.json", None, ["--key", KEY_URI])
    with pytest.raises(ValueError, match="needs the video's key"):
        plan(Stage.PACKAGE, inputs(manifests, "probe", "transcode", params={"encrypt": True}))


def test_a_transcript_of_undetected_language_is_und(manifests):
    unknown = dataclasses.replace(manifests["transcribe"], language=None)
    assert subtitle_track_args(unknown, "vtt") == ["--subtitles", f"und={WORK}/transcribe/subtitles.vtt"]


def test_each_manifest_lands_in_its_own_input(manifests):
    """A captions manifest is a transcribe manifest too: each goes where its stage says."""
    run = inputs(manifests, *manifests)
    assert (run.probe, run.transcode, run.transcribe, run.captions, run.detect) == (
        manifests["probe"], manifests["transcode"], manifests["transcribe"], manifests["captions"],
        manifests["detect"])
