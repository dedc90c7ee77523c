"""transcode: the ladder's sizes and codecs, checked with ffprobe; containers; clips."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess

import imageio_ffmpeg
import pytest
from helpers import ffprobe

from video_worker.transcode import ladder_sizes, parse_ladder


def _streams(path):
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    return info, video, audio


def test_ladder_never_exceeds_the_source(run_worker, hd_clip, tmp_path):
    result = run_worker("transcode", "--source", hd_clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert [r["name"] for r in m["renditions"]] == ["720p", "480p", "360p"]
    for rendition, (w, h) in zip(m["renditions"], [(1280, 720), (854, 480), (640, 360)]):
        path = tmp_path / rendition["file"]
        info, video, audio = _streams(path)
        assert (video["width"], video["height"]) == (w, h) == (rendition["width"], rendition["height"])
        assert (video["codec_name"], video["pix_fmt"], video["profile"]) == ("h264", "yuv420p", "High")
        assert (audio["codec_name"], audio["channels"]) == ("aac", 2)
        assert float(info["format"]["duration"]) == pytest.approx(4, abs=0.15)
        # faststart: the index (moov) comes before the media data (mdat).
        head = path.read_bytes()[:4096]
        assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    assert m["top"] == "renditions/720p.mp4"
    assert m["clips"] == []


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("src.mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus"]),
        ("src.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"]),
        ("src.avi", ["-c:v", "mpeg4", "-c:a", "mp3"]),
    ],
)
def test_any_container_becomes_web_mp4(run_worker, make_media, tmp_path, name, args):
    source = make_media(name, "-f", "lavfi", "-i", "testsrc2=s=426x240:r=25:d=2",
                        "-f", "lavfi", "-i", "sine=d=2:sample_rate=48000", *args)
    result = run_worker("transcode", "--source", source, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    (only,) = result.manifest["renditions"]
    info, video, audio = _streams(tmp_path / only["file"])
    assert "mp4" in info["format"]["format_name"]
    assert (video["codec_name"], audio["codec_name"]) == ("h264", "aac")
    assert (video["width"], video["height"]) == (426, 240)


def test_portrait_video_keeps_orientation_and_custom_ladder(run_worker, make_media, tmp_path):
    source = make_media("portrait.mp4", "-f", "lavfi", "-i", "testsrc2=s=720x1280:r=25:d=2",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    result = run_worker("transcode", "--source", source, "--dest", tmp_path,
                        "--ladder", "1080,480", "--crf", "30", "--preset", "ultrafast")
    assert result.returncode == 0, result.stderr
    (only,) = result.manifest["renditions"]
    _, video, audio = _streams(tmp_path / only["file"])
    assert (video["width"], video["height"]) == (480, 854)
    assert audio is None


def test_rotated_video_is_encoded_upright(run_worker, rotated_clip, tmp_path):
    result = run_worker("transcode", "--source", rotated_clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    (only,) = result.manifest["renditions"]
    _, video, _ = _streams(tmp_path / only["file"])
    assert (video["width"], video["height"]) == (240, 320)
    assert not video.get("side_data_list"), "the picture itself is turned; no rotation flag is left"


def test_long_videos_are_split_into_clips(run_worker, make_media, tmp_path):
    source = make_media("ten-seconds.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=10",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    result = run_worker("transcode", "--source", source, "--dest", tmp_path,
                        "--split-over", "6", "--clip-length", "4", "--keyframe-interval", "2")
    assert result.returncode == 0, result.stderr
    clips = result.manifest["clips"]
    assert clips == ["clips/clip_000.mp4", "clips/clip_001.mp4", "clips/clip_002.mp4"]
    durations = [float(ffprobe(tmp_path / c)["format"]["duration"]) for c in clips]
    assert durations == pytest.approx([4, 4, 2], abs=0.1)


def test_ladder_sizes_unit():
    assert ladder_sizes(1920, 1080, [1080, 720]) == [(1080, 1920, 1080), (720, 1280, 720)]
    assert ladder_sizes(300, 200, [1080, 720]) == [(200, 300, 200)]
    assert ladder_sizes(1080, 1920, [720]) == [(720, 720, 1280)]
    assert parse_ladder("360, 1080,720") == [1080, 720, 360]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_ladder("720,abc")


def test_invalid_ladder_is_a_usage_error(run_worker, hd_clip, tmp_path):
    result = run_worker("transcode", "--source", hd_clip, "--dest", tmp_path, "--ladder", "720,abc")
    assert result.returncode == 3
    assert result.manifest["kind"] == "usage" and "invalid ladder" in result.manifest["error"]
    assert not list(tmp_path.iterdir())


def _lavf(ffmpeg: str) -> str:
    """``Lavf63.1.102``: the encoder that an MP4 written by this ffmpeg names."""
    out = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^libavformat\s+(\d+)\.\s*(\d+)\.\s*(\d+)", out, re.M)
    assert found, out
    return "Lavf" + ".".join(str(int(n)) for n in found.groups())


def _encoder(result, dest):
    assert result.returncode == 0, result.stderr
    return ffprobe(dest / result.manifest["top"])["format"]["tags"]["encoder"]


def test_by_default_the_ladder_comes_from_the_imageio_ffmpeg_build(run_worker, hd_clip, tmp_path, monkeypatch):
    monkeypatch.delenv("VIDEO_WORKER_FFMPEG", raising=False)
    result = run_worker("transcode", "--source", hd_clip, "--dest", tmp_path, "--ladder", "360")
    assert _encoder(result, tmp_path) == _lavf(imageio_ffmpeg.get_ffmpeg_exe())


def test_video_worker_ffmpeg_names_the_ffmpeg_the_stages_run(run_worker, hd_clip, tmp_path):
    """Here Debian's ffmpeg on PATH, through a wrapper that records each command."""
    argv, wrapper = tmp_path / "argv.txt", tmp_path / "my-ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv}\nexec {shutil.which("ffmpeg")} "$@"\n')
    wrapper.chmod(0o755)
    out = tmp_path / "out"
    result = run_worker("transcode", "--source", hd_clip, "--dest", out, "--ladder", "360",
                        env={"VIDEO_WORKER_FFMPEG": str(wrapper)})
    assert _encoder(result, out) == _lavf("ffmpeg")
    assert "-filter_complex" in argv.read_text()  # the ladder's command ran through it


def test_a_missing_ffmpeg_is_a_configuration_error(run_worker, hd_clip, tmp_path):
    missing = tmp_path / "no-such-ffmpeg"
    result = run_worker("transcode", "--source", hd_clip, "--dest", tmp_path / "out",
                        env={"VIDEO_WORKER_FFMPEG": str(missing)})
    assert result.returncode == 3
    assert result.manifest["kind"] == "config"
    assert result.manifest["error"].startswith(f"VIDEO_WORKER_FFMPEG={str(missing)!r}: not an executable file")
    assert not (tmp_path / "out").exists()
