"""transcribe: real Whisper models on espeak-ng speech."""

from __future__ import annotations

import json
import re

import footage
import local_models
import pytest
from helpers import expected_device

SPEECH = {language: sample for language, sample in footage.SPEECH.items() if language != "en"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


@pytest.mark.parametrize("batch_size", [0, 8])  # window after window; chunks of speech in batches
def test_english_speech_is_transcribed_into_subtitles(run_worker, speech_clip, tmp_path, batch_size):
    result = run_worker("transcribe", "--source", speech_clip, "--dest", tmp_path,
                        env={"VIDEO_WORKER_WHISPER_BATCH_SIZE": str(batch_size)})
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["speech"] is True and m["language"] == "en" and m["cues"] >= 2
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert transcript["batch_size"] == batch_size
    heard = _words(transcript["text"])
    expected = {"animals", "park", "black", "cat", "sits", "under", "green", "tree", "dog", "runs", "grass"}
    assert len(expected & heard) >= 8, transcript["text"]
    seg = transcript["segments"][0]
    assert seg["words"] and 0 <= seg["words"][0]["start"] < seg["words"][-1]["end"] <= m["duration_s"] + 0.5
    vtt = (tmp_path / "subtitles.vtt").read_text()
    srt = (tmp_path / "subtitles.srt").read_text()
    assert vtt.startswith("WEBVTT") and vtt.count("-->") == m["cues"] == srt.count("-->")
    assert len(expected & _words(vtt)) >= 8
    assert re.search(r"^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n", srt)
    assert m["norm_violations"]["total"] == 0, m["norm_violations"]
    assert m["translation"] is None and m["translation_skipped"] is None  # English needs no English track
    assert not (tmp_path / "subtitles.en.vtt").exists()


def test_video_without_audio_is_no_speech_not_failure(run_worker, silent_clip, tmp_path):
    result = run_worker("transcribe", "--source", silent_clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.manifest["speech"] is False
    assert result.manifest["no_speech_reason"] == "the video has no audio track"
    assert json.loads((tmp_path / "transcript.json").read_text())["segments"] == []
    assert (tmp_path / "subtitles.vtt").read_text().strip() == "WEBVTT"


def test_silence_is_no_speech(run_worker, make_media, tmp_path):
    quiet = make_media("quiet.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4",
                       "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=4",
                       "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    result = run_worker("transcribe", "--source", quiet, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.manifest["speech"] is False
    assert result.manifest["no_speech_reason"] == "no speech was found in the audio"


@pytest.fixture(scope="session")
def base_model_env() -> dict[str, str]:
    return {"VIDEO_WORKER_WHISPER_MODEL": str(local_models.whisper_base())}


@pytest.mark.parametrize("language", sorted(SPEECH))
def test_language_is_detected(run_worker, speak, make_media, base_model_env, tmp_path, language):
    voice, text = SPEECH[language]
    wav = speak(f"speech-{language}.wav", text, voice, 120)
    clip = make_media(f"speech-{language}.mp4", "-f", "lavfi", "-i", "color=c=navy:s=320x240:r=10",
                      "-i", wav, "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    result = run_worker("transcribe", "--source", clip, "--dest", tmp_path, env=base_model_env)
    assert result.returncode == 0, result.stderr
    assert result.manifest["language"] == language
    assert result.manifest["language_probability"] > 0.5
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert transcript["language_declared"] is False and transcript["text"]


@pytest.fixture(scope="session")
def french_clip(speak, make_media):
    wav = speak("speech-fr.wav", SPEECH["fr"][1], SPEECH["fr"][0], 120)
    return make_media("speech-fr.mp4", "-f", "lavfi", "-i", "color=c=navy:s=320x240:r=10",
                      "-i", wav, "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")


def test_declared_language_is_used(run_worker, french_clip, base_model_env, tmp_path):
    result = run_worker("transcribe", "--source", french_clip, "--dest", tmp_path, "--language", "fr",
                        env=base_model_env)
    assert result.returncode == 0, result.stderr
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert transcript["language"] == "fr" and transcript["language_declared"] is True
    heard = set(re.findall(r"\w+", transcript["text"].lower()))
    assert len({"appelle", "paris", "ville", "matin", "café", "croissant", "travail", "famille"} & heard) >= 4


CUE_TIMES = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", re.MULTILINE)


def _cues(vtt: str) -> list[tuple[tuple[str, str], str]]:
    """(start, end) and text of each WebVTT cue."""
    cues: list[tuple[tuple[str, str], str]] = []
    for block in vtt.split("\n\n"):
        if "-->" not in block:
            continue
        lines = block.strip().splitlines()
        times = CUE_TIMES.match(lines[0])
        assert times, lines[0]
        cues.append(((times[1], times[2]), " ".join(lines[1:])))
    return cues


def test_french_speech_gets_an_english_track_on_the_french_timing(run_worker, french_clip, base_model_env,
                                                                  tmp_path):
    """Whisper's translate task with the multilingual base model. Base translates espeak-ng's slow French
    poorly (docs/worker.md: small and up translate well), so this proves what a small model can: the track exists,
    is English, keeps the source cues' times, and is not the French text again."""
    result = run_worker("transcribe", "--source", french_clip, "--dest", tmp_path, env=base_model_env)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["language"] == "fr" and m["translation_skipped"] is None
    translation = m["translation"]
    assert (translation["language"], translation["from"]) == ("en", "fr")
    assert translation["subtitles"] == {"srt": "subtitles.en.srt", "vtt": "subtitles.en.vtt"}
    assert {"subtitles.en.srt", "subtitles.en.vtt"} <= set(m["artifacts"])

    french = _cues((tmp_path / "subtitles.vtt").read_text())
    english = _cues((tmp_path / "subtitles.en.vtt").read_text())
    assert len(english) == translation["cues"] >= max(1, len(french) - 1)
    assert {times for times, _ in english} <= {times for times, _ in french}  # the French cues' times
    assert (tmp_path / "subtitles.en.srt").read_text().count("-->") == len(english)
    french_words, english_words = (_words(" ".join(text for _, text in cues)) for cues in (french, english))
    assert len(english_words & french_words) < 0.3 * len(english_words), (english, french)
    assert {"i", "the", "and", "a", "my", "in", "to", "is", "with"} & english_words, english


def test_an_english_only_model_says_it_cannot_translate(run_worker, french_clip, tmp_path):
    result = run_worker("transcribe", "--source", french_clip, "--dest", tmp_path, "--language", "fr",
                        "--beam-size", "1")
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["translation"] is None
    assert "English-only model" in m["translation_skipped"] and "multilingual" in m["translation_skipped"]


@pytest.fixture(scope="session")
def random_openai_whisper(tmp_path_factory):
    """A tiny openai-whisper checkpoint with random weights.

    No real openai-whisper weights can be downloaded here; this proves the
    engine's plumbing (loading, language detection, word timings, outputs), not
    its accuracy, which the faster-whisper tests cover with real models.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1)
    path = tmp_path_factory.mktemp("openai-whisper") / "random-tiny.pt"
    model = Whisper(dims)
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)  # created uninitialised
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return path


def test_openai_whisper_engine_runs_end_to_end(run_worker, speech_clip, random_openai_whisper, tmp_path):
    from whisper.tokenizer import LANGUAGES

    # The checkpoint by its name in the model directory, as a run's whisper_model names one.
    model_dir = {"VIDEO_WORKER_MODEL_DIR": str(random_openai_whisper.parent)}
    # --no-translate: random weights can emit timestamps that never advance a translated clip (nothing real does).
    result = run_worker("transcribe", "--source", speech_clip, "--dest", tmp_path, "--no-translate",
                        "--engine", "openai-whisper", "--model", random_openai_whisper.name, "--beam-size", "1",
                        env=model_dir)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert (m["engine"], m["device"]) == ("openai-whisper", expected_device())
    assert m["language"] in LANGUAGES and 0 < m["language_probability"] <= 1
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert transcript["engine"] == "openai-whisper" and transcript["language_declared"] is False
    assert (tmp_path / "subtitles.vtt").read_text().startswith("WEBVTT")

    declared = run_worker("transcribe", "--source", speech_clip, "--dest", tmp_path / "declared",
                          "--engine", "openai-whisper", "--model", random_openai_whisper.name,
                          "--beam-size", "1", "--language", "de", "--no-translate", env=model_dir)
    assert declared.returncode == 0, declared.stderr
    assert declared.manifest["language"] == "de" and declared.manifest["language_probability"] is None
    assert declared.manifest["translation"] is None and not (tmp_path / "declared" / "subtitles.en.vtt").exists()
