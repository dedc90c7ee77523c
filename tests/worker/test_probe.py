"""probe: metadata fields and every documented bad input, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_probe_reports_metadata(run_worker, hd_clip, tmp_path):
    result = run_worker("probe", "--source", hd_clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert (m["width"], m["height"]) == (1280, 720)
    assert m["fps"] == pytest.approx(30, abs=0.01)
    assert m["duration_s"] == pytest.approx(4, abs=0.1)
    assert (m["video_codec"], m["audio_codec"], m["has_audio"]) == ("h264", "aac", True)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta == m["metadata"]
    assert "mov" in meta["container"]
    assert meta["size_bytes"] == hd_clip.stat().st_size
    assert meta["bit_rate"] > 0
    assert meta["video"]["pix_fmt"] == "yuv420p"
    assert meta["audio"] == {**meta["audio"], "channels": 2, "sample_rate": 48000}
    assert m["artifacts"]["metadata.json"] == str(tmp_path / "metadata.json")


def test_probe_reports_display_size_after_rotation(run_worker, rotated_clip, tmp_path):
    result = run_worker("probe", "--source", rotated_clip, "--dest", tmp_path)
    assert result.returncode == 0, result.stderr
    video = result.manifest["metadata"]["video"]
    assert (video["width"], video["height"]) == (320, 240)
    assert (video["display_width"], video["display_height"]) == (240, 320)
    assert video["rotation"] in (90, 270)
    assert result.manifest["has_audio"] is False
    assert result.manifest["metadata"]["audio"] is None


@pytest.fixture(scope="session")
def bad_inputs(media_dir, make_media, hd_clip) -> dict[str, Path]:
    empty = media_dir / "empty.mp4"
    empty.write_bytes(b"")
    text = media_dir / "notes.mp4"
    text.write_text("This is a text file, not a video.\n" * 20)
    # MP4 written without faststart keeps its index at the end: cutting the end loses it.
    full = make_media("long-index-at-end.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    truncated = media_dir / "truncated.mp4"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    audio_only = make_media("audio-only.m4a", "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "aac")
    return {"empty": empty, "text": text, "truncated": truncated, "audio_only": audio_only,
            "too_long": hd_clip}


@pytest.mark.parametrize(
    ("name", "reason", "extra"),
    [
        ("empty", "empty (0 bytes)", []),
        ("text", "The file is plain text, not a video.", []),
        ("truncated", "index (moov atom) is missing because the upload was cut short", []),
        ("audio_only", "audio only, no video stream (M4A file, AAC audio)", []),
        ("too_long", "over the limit of 3 s", ["--max-duration", "3"]),
    ],
)
def test_bad_input_is_a_permanent_error(run_worker, bad_inputs, tmp_path, name, reason, extra):
    result = run_worker("probe", "--source", bad_inputs[name], "--dest", tmp_path, *extra)
    assert result.returncode == 2, result.stderr
    assert (result.manifest["permanent"], result.manifest["kind"]) == (True, "input")
    assert reason in result.manifest["error"]
    assert result.manifest["stage"] == "probe"
    assert not list(tmp_path.iterdir()), "a failed stage must publish nothing"


def test_h264_in_webm_is_accepted(run_worker, media_dir, hd_clip, make_media, tmp_path):
    """Chrome's MediaRecorder writes H.264 in WebM (video/webm;codecs=h264): a valid upload."""
    mkv = make_media("h264.mkv", "-i", hd_clip, "-c", "copy", "-an")
    data = bytearray(mkv.read_bytes())
    at = data.find(b"\x42\x82\x88matroska")
    data[at : at + 11] = b"\x42\x82\x84webm\xec\x82\x00\x00"  # DocType "webm" + 4-byte Void
    webm = media_dir / "h264.webm"
    webm.write_bytes(bytes(data))
    result = run_worker("probe", "--source", webm, "--dest", tmp_path)
    assert result.returncode == 0, result.manifest
    assert (result.manifest["video_codec"], result.manifest["width"]) == ("h264", 1280)
    assert result.manifest["metadata"]["container"] == "matroska,webm"


def test_truncated_faststart_mp4_fails_decoding(run_worker, make_media, media_dir, tmp_path):
    """Index at the front, half the data missing: only decoding near the end can tell."""
    full = make_media("faststart.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                      "-movflags", "+faststart")
    cut = media_dir / "faststart-cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    result = run_worker("probe", "--source", cut, "--dest", tmp_path)
    assert result.returncode == 2, result.stderr
    assert "The MP4 file is truncated: it ends inside its media data" in result.manifest["error"]


def test_oversized_resolution_is_rejected(run_worker, hd_clip, tmp_path):
    result = run_worker("probe", "--source", hd_clip, "--dest", tmp_path, "--max-long-side", "1000")
    assert result.returncode == 2
    assert "1280x720, larger than the limit" in result.manifest["error"]


def test_missing_local_source_is_permanent(run_worker, tmp_path):
    result = run_worker("probe", "--source", tmp_path / "nope.mp4", "--dest", tmp_path / "out")
    assert result.returncode == 2
    assert "does not exist" in result.manifest["error"]


def test_the_result_line_also_goes_to_the_result_file(run_worker, hd_clip, tmp_path):
    """The Kubernetes runner reads the result from the file its XCom sidecar serves, done or failed."""
    for source, code in ((hd_clip, 0), (tmp_path / "missing.mp4", 2)):
        result_file = tmp_path / f"result-{code}.json"
        result = run_worker("probe", "--source", source, "--dest", tmp_path / f"out-{code}",
                            env={"VIDEO_WORKER_RESULT_FILE": str(result_file)})
        assert result.returncode == code, result.stderr
        assert json.loads(result_file.read_text()) == result.manifest
        assert ("artifacts" in result.manifest, "error" in result.manifest) == (code == 0, code != 0)
