"""captions: a reviewer's text on the transcript's cues, through the CLI as the DAG runs it."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def transcribed(run_worker, speech_clip, tmp_path_factory):
    dest = tmp_path_factory.mktemp("captions-transcribe")
    result = run_worker("transcribe", "--source", speech_clip, "--dest", dest)
    assert result.returncode == 0, result.stderr
    return dest, json.loads((dest / "cues.json").read_text())


def texts_file(path, texts: list[str]):
    path.write_text(json.dumps({"texts": texts}))
    return path


def test_edited_cues_take_the_reviewers_text_and_keep_their_times(run_worker, transcribed, tmp_path):
    source, cues = transcribed
    texts = [" ".join(c["lines"]) for c in cues]
    texts[0] = "Hello, and <b>welcome</b> back to our little show about the park"
    result = run_worker("captions", "--source", source / "manifest.json", "--dest", tmp_path / "out",
                        "--texts", texts_file(tmp_path / "texts.json", texts))
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["review"] == {"edited_cues": [0], "cues": len(cues)} and m["language"] == "en"
    assert {"subtitles.vtt", "subtitles.srt", "transcript.json", "cues.json"} <= set(m["artifacts"])
    reviewed = json.loads((tmp_path / "out" / "cues.json").read_text())
    assert [(c["start"], c["end"]) for c in reviewed] == [(c["start"], c["end"]) for c in cues]
    assert reviewed[0]["lines"] == ["Hello, and <b>welcome</b> back", "to our little show about the park"]
    assert reviewed[1:] == cues[1:]
    vtt = (tmp_path / "out" / "subtitles.vtt").read_text()
    assert "&lt;b&gt;welcome&lt;/b&gt;" in vtt and "<b>" not in vtt  # untrusted text stays text
    transcript = json.loads((tmp_path / "out" / "transcript.json").read_text())
    assert transcript["reviewed"] and transcript["segments"][0]["text"] == " ".join(reviewed[0]["lines"])
    assert m["norm_violations"]["total"] == 0


def test_an_approval_without_edits_passes_the_transcript_through(run_worker, transcribed, tmp_path):
    source, cues = transcribed
    result = run_worker("captions", "--source", source / "manifest.json", "--dest", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.manifest["review"]["edited_cues"] == []
    assert (tmp_path / "out" / "subtitles.vtt").read_text() == (source / "subtitles.vtt").read_text()


@pytest.mark.parametrize(("texts", "message"), [
    (["only one line"], "1 texts for"), ([""], "every cue needs a text"),
])
def test_texts_that_do_not_fit_the_cues_are_a_usage_error(run_worker, transcribed, tmp_path, texts, message):
    source, cues = transcribed
    if message != "1 texts for":
        texts = texts * len(cues)
    result = run_worker("captions", "--source", source / "manifest.json", "--dest", tmp_path / "out",
                        "--texts", texts_file(tmp_path / "texts.json", texts))
    assert result.returncode == 3 and message in result.manifest["error"], result.manifest
