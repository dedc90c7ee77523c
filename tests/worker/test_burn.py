"""burn: subtitles are visible in the burned picture, and selectable in the soft variant."""

from __future__ import annotations

import subprocess

import numpy as np
from helpers import ffprobe

SRT = "1\n00:00:00,500 --> 00:00:03,500\nSous-titres incrustés dans l'image\n"
ENGLISH = "1\n00:00:00,500 --> 00:00:03,500\nSubtitles burned into the picture\n"


def _frame(path, t: float, w: int = 320, h: int = 240) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(t), "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w).astype(np.int16)


def test_burned_video_differs_in_the_subtitle_area(run_worker, make_media, tmp_path):
    plain = make_media("burn-src.mp4", "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=25:d=4",
                       "-f", "lavfi", "-i", "sine=d=4", "-shortest",
                       "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")
    subs, english = tmp_path / "in" / "subs.srt", tmp_path / "in" / "subs.en.srt"
    subs.parent.mkdir()
    subs.write_text(SRT)
    english.write_text(ENGLISH)
    out = tmp_path / "out"
    result = run_worker("burn", "--source", plain, "--subtitles", f"fr={subs}", "--subtitles", f"en={english}",
                        "--dest", out)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert m["subtitles_burned"] is True
    assert (m["burned_language"], m["soft_languages"]) == ("fr", ["fr", "en"])

    before, after = _frame(plain, 2.0), _frame(out / "burned.mp4", 2.0)
    diff = np.abs(before - after)
    assert diff[180:, :].mean() > 5, "subtitle text must change the bottom of the picture"
    assert diff[:120, :].mean() < 1.5, "the top of the picture must stay as it was"
    outside = np.abs(_frame(plain, 3.8) - _frame(out / "burned.mp4", 3.8))
    assert outside[180:, :].mean() < 1.5, "no text after the cue ends"

    # The soft variant carries both tracks, each tagged with its ISO 639-2 code and named for players.
    soft = ffprobe(out / "soft.mp4")
    subtitles = [s for s in soft["streams"] if s["codec_type"] == "subtitle"]
    assert [(s["codec_name"], s["tags"]["language"], s["tags"].get("handler_name")) for s in subtitles] == [
        ("mov_text", "fra", "French"), ("mov_text", "eng", "English")]
    assert {s["codec_type"] for s in soft["streams"]} == {"video", "audio", "subtitle"}
    for index, expected in ((0, "Sous-titres incrustés dans l'image"), (1, "Subtitles burned into the picture")):
        text = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out / "soft.mp4"), "-map", f"0:s:{index}",
                               "-f", "srt", "-"], capture_output=True, text=True, check=True).stdout
        assert expected in text


def test_empty_subtitles_copy_the_video(run_worker, silent_clip, tmp_path):
    subs = tmp_path / "empty.vtt"
    subs.write_text("WEBVTT\n")
    result = run_worker("burn", "--source", silent_clip, "--subtitles", f"en={subs}", "--dest", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.manifest["subtitles_burned"] is False
    burned = ffprobe(tmp_path / "out" / "burned.mp4")
    assert float(burned["format"]["duration"]) == float(ffprobe(silent_clip)["format"]["duration"])


def test_a_track_without_its_language_is_a_usage_error(run_worker, silent_clip, tmp_path):
    subs = tmp_path / "subs.srt"
    subs.write_text(ENGLISH)
    result = run_worker("burn", "--source", silent_clip, "--subtitles", subs, "--dest", tmp_path / "out")
    assert result.returncode == 3 and "expected LANG=URI" in result.manifest["error"]
