"""ffmpeg opens only media (issue 23, finding 5): an upload cannot make it open the worker's own files.

A playlist (HLS) or a concat script names other files for ffmpeg to open. The sniffer refused them as
text, but a few hundred control characters in the first kilobyte made its text test give up ("unknown
data"), and ffprobe then read the playlist and the local video it names. Here the attack runs for real
through ``video-worker probe`` against a 20 s local video; it must end in exit 2 with a reason that names
the file, and nothing of the local video may come out. The worker's ffmpeg runner itself must refuse the
playlist too, whatever the sniffer says (its demuxer allow-list).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from video_worker import ffmpeg
from video_worker.settings import worker_settings

LOCAL_SECONDS = 20
# Over 1% of the first 8 KB: enough for the sniffer's text test to call the file "unrecognised data".
PADDING = "# " + "\x01" * 400 + "\n"


@pytest.fixture(scope="module")
def local_video(tmp_path_factory) -> Path:
    """A file on the worker that no upload may reach: 20 s of H.264."""
    path = tmp_path_factory.mktemp("worker-files") / "private.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=s=320x240:r=25:d={LOCAL_SECONDS}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=120)
    return path


def hls_playlist(folder: Path, target: Path) -> Path:
    """The reported attack: an HLS playlist, named like a video, padded, pointing at file://."""
    path = folder / "holiday.mp4"
    path.write_text("#EXTM3U\n" + PADDING + "#EXT-X-TARGETDURATION:20\n"
                    f"#EXTINF:{LOCAL_SECONDS},\nfile://{target}\n#EXT-X-ENDLIST\n")
    return path


def concat_script(folder: Path, target: Path) -> Path:
    """The same through ffmpeg's concat demuxer: a relative name, which its safe mode allows."""
    (folder / target.name).symlink_to(target)
    path = folder / "holiday.mkv"
    path.write_text("ffconcat version 1.0\n" + PADDING + f"file {target.name}\nduration {LOCAL_SECONDS}\n")
    return path


ATTACKS = {"hls": (hls_playlist, "an HLS playlist"), "ffconcat": (concat_script, "an ffmpeg concat script")}


def plain_ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], capture_output=True, check=False, timeout=60).stdout
    return json.loads(out or b"{}")


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_padded_pointer_file_is_refused_and_opens_nothing(run_worker, local_video, tmp_path, attack):
    make, name = ATTACKS[attack]
    upload = make(tmp_path, local_video)
    # The file is a working attack: ffprobe on its own reads the local video through it.
    leaked = plain_ffprobe(upload)
    assert float(leaked["format"]["duration"]) == pytest.approx(LOCAL_SECONDS, abs=0.5), leaked
    assert [s["codec_name"] for s in leaked["streams"]] == ["h264"]

    result = run_worker("probe", "--source", upload, "--dest", tmp_path / "out")

    assert result.returncode == 2, (result.manifest, result.stderr[-1500:])
    assert (result.manifest["permanent"], result.manifest["kind"]) == (True, "input")
    assert result.manifest["error"].startswith(f"The file is {name}"), result.manifest["error"]
    assert "duration_s" not in result.manifest and "metadata" not in result.manifest
    assert str(LOCAL_SECONDS) not in result.manifest["error"]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_runner_refuses_a_pointer_file_whatever_the_sniffer_says(local_video, tmp_path, attack):
    """ffprobe and ffmpeg, as the stages run them, refuse the format before opening anything it names."""
    upload = ATTACKS[attack][0](tmp_path, local_video)
    with pytest.raises(ffmpeg.FFmpegError) as probed:
        ffmpeg.ffprobe_json(upload)
    assert "Format not on whitelist" in probed.value.stderr_tail
    with pytest.raises(ffmpeg.FFmpegError) as decoded:
        ffmpeg.run(["-i", upload, "-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo", "-"], capture_stdout=True)
    # The worker's ffmpeg 9 reads no HLS playlist named like a video (7.1 stopped it); 5.1 reads it, and the
    # allow-list refuses it.
    refusals = ("Format not on whitelist", "Not detecting m3u8/hls with non standard extension")
    assert any(refusal in decoded.value.stderr_tail for refusal in refusals), decoded.value.stderr_tail


def test_the_runner_refuses_a_playlist_that_its_ffmpeg_would_read(local_video, tmp_path):
    """Named .m3u8, the playlist is one that the worker's ffmpeg follows to the local file: the allow-list stops it."""
    playlist = hls_playlist(tmp_path, local_video).rename(tmp_path / "holiday.m3u8")
    plain = subprocess.run([worker_settings().ffmpeg_command, "-v", "verbose", "-i", str(playlist), "-map", "0:v:0",
                            "-frames:v", "1", "-f", "rawvideo", "-"], capture_output=True, text=True, check=False,
                           timeout=60)
    assert f"Opening 'file://{local_video}' for reading" in plain.stderr  # a working attack without the allow-list
    with pytest.raises(ffmpeg.FFmpegError) as decoded:
        ffmpeg.run(["-i", playlist, "-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo", "-"], capture_stdout=True)
    assert "Format not on whitelist" in decoded.value.stderr_tail


def test_the_runner_still_opens_a_real_video(local_video):
    """The allow-list refuses formats, not videos."""
    info = ffmpeg.ffprobe_json(local_video)
    assert float(info["format"]["duration"]) == pytest.approx(LOCAL_SECONDS, abs=0.1)
    frame = ffmpeg.run(["-i", local_video, "-frames:v", "1", "-vf", "scale=8:8", "-pix_fmt", "gray",
                        "-f", "rawvideo", "-"], capture_stdout=True)
    assert len(frame) == 64
