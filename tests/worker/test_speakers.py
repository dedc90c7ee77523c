"""Speaker labels: the clustering on vectors, cues and WebVTT voices, and real espeak-ng conversations
through the real ``video-worker transcribe`` (Whisper tiny.en, Resemblyzer's encoder)."""

from __future__ import annotations

import json

import footage
import numpy as np
import pytest

from video_pipeline.publishing import webvtt
from video_worker.speaker_clusters import speakers
from video_worker.subtitles import Word, build_cues, cues_from_json, cues_json, to_srt, to_vtt

TURN_SHARE = 0.8  # of a turn's words that must carry the speaker its voice got


def _voices(seed: int, centres: list[int], spread: float) -> np.ndarray:
    """Unit vectors around a few random voice centres, one per stretch."""
    rng = np.random.default_rng(seed)
    voice = rng.normal(size=(max(centres) + 1, 64))
    vectors = voice[centres] / np.linalg.norm(voice[centres], axis=1, keepdims=True)
    vectors = vectors + rng.normal(scale=spread, size=vectors.shape)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_voices_apart_are_speakers_numbered_as_they_first_speak():
    vectors = _voices(1, [2, 0, 2, 0, 1, 2], 0.05)
    assert speakers(vectors, [True] * 6) == [0, 1, 0, 1, 2, 0]


def test_one_voice_stays_one_speaker():
    vectors = _voices(2, [0] * 12, 0.05)
    assert speakers(vectors, [True] * 12) == [0] * 12


def test_a_short_stretch_joins_the_nearest_speaker_rather_than_founding_one():
    vectors = _voices(3, [0, 1, 0, 1, 1], 0.05)
    vectors[4] = _voices(4, [0], 0.0)[0] * 0.3 + vectors[1] * 0.7  # a short "yes", noisy, nearer voice 1
    vectors[4] /= np.linalg.norm(vectors[4])
    assert speakers(vectors, [True, True, True, True, False]) == [0, 1, 0, 1, 1]
    assert speakers(vectors[:1], [False]) == [0] and speakers(vectors[:0], []) == []


def test_a_cue_never_holds_two_speakers_and_webvtt_names_its_voice():
    words = [Word(0.0, 0.4, "Is", "Speaker 1"), Word(0.45, 0.9, "it", "Speaker 1"),
             Word(0.95, 1.4, "raining?", "Speaker 1"), Word(1.5, 1.9, "Yes", "Speaker 2"),
             Word(1.95, 2.5, "it <is>.", "Speaker 2")]
    cues = build_cues(words)
    assert [(c.text, c.speaker) for c in cues] == [("Is it raining?", "Speaker 1"), ("Yes it <is>.", "Speaker 2")]
    vtt = to_vtt(cues)
    assert "<v Speaker 1>Is it raining?</v>" in vtt and "<v Speaker 2>Yes it &lt;is&gt;.</v>" in vtt
    assert "Speaker" not in to_srt(cues)  # SubRip has no voices: its text stays what is said
    assert cues_from_json(cues_json(cues)) == cues
    # What publish reads back from a WebVTT track (a translation's): the same speakers and text.
    assert [(c.speaker, c.lines) for c in webvtt.cues(vtt)] == [(c.speaker, list(c.lines)) for c in cues]


def _clip(make_media, media_dir, name: str, voices: tuple[str, ...], turns: int):
    wav = media_dir / f"{name}.wav"
    truth = footage.conversation(wav, voices, turns)
    clip = make_media(f"{name}.mp4", "-f", "lavfi", "-i", "color=c=navy:s=160x90:r=10", "-i", wav,
                      "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    return clip, truth


@pytest.fixture(scope="module")
def conversation(run_worker, make_media, media_dir, tmp_path_factory):
    """A man's and a woman's espeak-ng voice, 4 turns (about 14 s), transcribed with speakers."""
    clip, truth = _clip(make_media, media_dir, "conversation", footage.VOICES[:2], 4)
    dest = tmp_path_factory.mktemp("speakers-two")
    result = run_worker("transcribe", "--source", clip, "--dest", dest)
    assert result.returncode == 0, result.stderr
    return clip, truth, dest, result.manifest


def test_two_voices_are_two_speakers_with_their_turns(conversation):
    _, truth, dest, manifest = conversation
    assert manifest["speakers"] == 2
    words = [w for seg in json.loads((dest / "transcript.json").read_text())["segments"] for w in seg["words"]]
    named: dict[int, set[str]] = {}
    for turn in truth:
        said = [w["speaker"] for w in words if turn.start <= (w["start"] + w["end"]) / 2 <= turn.end]
        top = max(set(said), key=said.count)
        assert said.count(top) >= TURN_SHARE * len(said), (turn, said)
        named.setdefault(turn.speaker, set()).add(top)
    assert named == {0: {"Speaker 1"}, 1: {"Speaker 2"}}  # each voice one speaker, numbered as it first speaks
    cues = json.loads((dest / "cues.json").read_text())
    assert {c["speaker"] for c in cues} == {"Speaker 1", "Speaker 2"}
    vtt = (dest / "subtitles.vtt").read_text()
    assert vtt.count("<v Speaker ") == len(cues) == vtt.count("</v>")
    assert "<v" not in (dest / "subtitles.srt").read_text()


def test_a_review_keeps_each_cues_speaker(run_worker, conversation, tmp_path):
    _, _, dest, _ = conversation
    cues = json.loads((dest / "cues.json").read_text())
    texts = [" ".join(c["lines"]) for c in cues]
    texts[-1] = "A reviewed last line."
    (tmp_path / "texts.json").write_text(json.dumps({"texts": texts}))
    result = run_worker("captions", "--source", dest / "manifest.json", "--dest", tmp_path / "out",
                        "--texts", tmp_path / "texts.json")
    assert result.returncode == 0, result.stderr
    assert result.manifest["speakers"] == 2
    reviewed = json.loads((tmp_path / "out" / "cues.json").read_text())
    assert [c["speaker"] for c in reviewed] == [c["speaker"] for c in cues]
    assert f"<v {cues[-1]['speaker']}>A reviewed last line.</v>" in (tmp_path / "out" / "subtitles.vtt").read_text()
    segments = json.loads((tmp_path / "out" / "transcript.json").read_text())["segments"]
    assert [s["speaker"] for s in segments] == [c["speaker"] for c in cues]


def test_one_voice_stays_one_speaker_unlabelled(run_worker, make_media, media_dir, tmp_path):
    clip, _ = _clip(make_media, media_dir, "monologue", footage.VOICES[:1], 4)
    result = run_worker("transcribe", "--source", clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.manifest["speakers"] == 1 and result.manifest["cues"] >= 4
    assert all(c["speaker"] is None for c in json.loads((tmp_path / "cues.json").read_text()))
    assert "<v" not in (tmp_path / "subtitles.vtt").read_text()


def test_the_setting_turns_labelling_off(run_worker, conversation, tmp_path):
    clip, _, _, _ = conversation
    result = run_worker("transcribe", "--source", clip, "--dest", tmp_path, env={"VIDEO_WORKER_SPEAKERS": "false"})
    assert result.returncode == 0, result.stderr
    assert result.manifest["speakers"] is None and result.manifest["cues"] >= 4
    assert all(c["speaker"] is None for c in json.loads((tmp_path / "cues.json").read_text()))
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert "speakers" not in transcript and "<v" not in (tmp_path / "subtitles.vtt").read_text()
