"""The input corpus: every kind of file people upload, each with its documented outcome.

Every file is generated here (ffmpeg lavfi, Python bytes); none is committed. A valid kind
must pass ``probe`` and then ``transcode``; an invalid one must make ``probe`` exit 2 with a
reason that says what the file is. No kind may make a stage exit 1, crash or hang.

The run writes the table of kinds and outcomes to ``test-artifacts/corpus.md``
(RELIABILITY.md, section "Input corpus", carries a copy).
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from helpers import ffprobe

from video_worker.settings import worker_settings

STAGE_TIMEOUT_S = 120
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

V = "testsrc2=s=160x120:r=25:d=2"
V3 = "testsrc2=s=160x120:r=25:d=3"
A = "sine=f=440:d=2:sample_rate=48000"
A3 = "sine=f=440:d=3:sample_rate=48000"
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
SVT_AV1 = ("-c:v", "libsvtav1", "-preset", "12")
VP8 = ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k")
VP9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k")


def ffmpeg(*args: str | Path, stdout=None) -> None:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)],
                          stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, check=False)
    assert proc.returncode == 0, f"generating the corpus file failed: ffmpeg {args}: {proc.stderr.decode()[-800:]}"


def lavfi(*sources: str) -> list[str]:
    return [arg for s in sources for arg in ("-f", "lavfi", "-i", s)]


# A generator writes the file at ``path``; ``tmp`` is scratch space.
Make = Callable[[Path, Path], None]


def ff(*args: str) -> Make:
    """ffmpeg with these arguments, writing the file (a seekable output)."""
    return lambda path, tmp: ffmpeg(*args, path)


def piped(*args: str) -> Make:
    """ffmpeg writing to a pipe, as a live recorder does: the muxer cannot seek back, so no
    duration goes into the header and no index (cues) is written."""
    def make(path: Path, tmp: Path) -> None:
        with path.open("wb") as out:
            ffmpeg(*args, "pipe:1", stdout=out)
    return make


def rotated(degrees: int, suffix: str, *args: str) -> Make:
    """Encoded, then tagged by stream copy: ffmpeg 5.1 writes the display matrix only when copying."""
    def make(path: Path, tmp: Path) -> None:
        plain = tmp / f"unrotated{suffix}"
        ffmpeg(*args, plain)
        ffmpeg("-i", plain, "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}", path)
    return make


def data(content: bytes | Callable[[], bytes]) -> Make:
    def make(path: Path, tmp: Path) -> None:
        path.write_bytes(content() if callable(content) else content)
    return make


def derived(base: Make, suffix: str, change: Callable[[bytes], bytes]) -> Make:
    """A file made from another one's bytes: cut short, damaged, re-labelled."""
    def make(path: Path, tmp: Path) -> None:
        source = tmp / f"base-{path.stem}{suffix}"
        base(source, tmp)
        path.write_bytes(change(source.read_bytes()))
    return make


def boxes(mp4: bytes) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes: type -> (offset, size)."""
    found: dict[str, tuple[int, int]] = {}
    at = 0
    while at + 8 <= len(mp4):
        size, kind = struct.unpack(">I4s", mp4[at: at + 8])
        size = size or len(mp4) - at
        found.setdefault(kind.decode("latin-1"), (at, size))
        at += size
    return found


def webm_doctype(mkv: bytes) -> bytes:
    """Matroska bytes re-declared as WebM: what Chrome's MediaRecorder writes for video/webm;codecs=h264.

    ffmpeg's webm muxer refuses H.264, so mux Matroska and rewrite the EBML DocType in place:
    "matroska" (8 bytes) becomes "webm" plus a 4-byte Void element, the header's size unchanged.
    """
    at = mkv.find(b"\x42\x82\x88matroska")
    assert 0 < at < 64, "no Matroska DocType in the EBML header"
    return mkv[:at] + b"\x42\x82\x84webm" + b"\xec\x82\x00\x00" + mkv[at + 11:]


def cut_in_moov(mp4: bytes) -> bytes:
    at, size = boxes(mp4)["moov"]
    return mp4[: at + size // 2]


def without_moov(mp4: bytes) -> bytes:
    """ftyp and mdat whole, no index: what a phone leaves when recording stops by a crash."""
    found = boxes(mp4)
    at, size = found["moov"]
    return mp4[:at] + mp4[at + size:]


def fragments_only(fmp4: bytes) -> bytes:
    at, size = boxes(fmp4)["moof"]
    return fmp4[at:]


def zero_mdat(mp4: bytes) -> bytes:
    """Every byte of the media data replaced by zeros; the index and sizes untouched."""
    at, size = boxes(mp4)["mdat"]
    return mp4[: at + 8] + b"\x00" * (size - 8) + mp4[at + size:]


def heic_photo() -> bytes:
    """The first boxes of an iPhone HEIC photo (ffmpeg cannot write HEIF): ftyp heic, meta/hdlr pict."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload
    meta = box(b"meta", b"\0\0\0\0" + box(b"hdlr", b"\0" * 8 + b"pict" + b"\0" * 13))
    return box(b"ftyp", b"heic\0\0\0\0mif1heic") + meta + box(b"mdat", random.Random(1).randbytes(4000))


def minimal_pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def zipped_video(path: Path, tmp: Path) -> None:
    clip = tmp / "inside.mp4"
    ffmpeg(*lavfi(V), *X264, clip)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(clip, "holiday.mp4")
    path.write_bytes(buffer.getvalue())


# A comment line of control characters: over 1% of the first 8 KB, so the sniffer's text test gives up.
CONTROLS = "\x01" * 400


def pointing_at_a_video(write: Callable[[Path], str]) -> Make:
    """A text file that names a real local video (``write`` gives its text, from the video's path),
    so that ffmpeg would have something to read if it followed it."""
    def make(path: Path, tmp: Path) -> None:
        local = tmp / "local.mp4"
        ffmpeg(*lavfi(V3), *X264, local)
        path.write_text(write(local))
    return make


def named_as_a_sequence(path: Path, tmp: Path) -> None:
    """A video under a numbered-image name (``frame%03d.jpg``), next to files the pattern matches."""
    ffmpeg(*lavfi(V), *X264, "-f", "mp4", path)
    for n in range(3):
        ffmpeg(*lavfi(V), "-frames:v", "1", tmp / f"frame{n:03d}.jpg")


def with_subtitles(container_args: tuple[str, ...]) -> Make:
    def make(path: Path, tmp: Path) -> None:
        srt = tmp / "captions.srt"
        srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello there\n")
        ffmpeg(*lavfi(V, A), "-i", srt, "-map", "0:v", "-map", "1:a", "-map", "2:s", *X264, "-c:a", "aac",
               *container_args, path)
    return make


def subtitles_only(path: Path, tmp: Path) -> None:
    srt = tmp / "only.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello there\n")
    ffmpeg("-i", srt, "-c:s", "srt", "-f", "matroska", path)


def mp3_with_cover(path: Path, tmp: Path) -> None:
    cover = tmp / "cover.jpg"
    ffmpeg(*lavfi("testsrc2=s=160x160:d=1"), "-frames:v", "1", cover)
    ffmpeg(*lavfi(A), "-i", cover, "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "mjpeg",
           "-disposition:v", "attached_pic", "-id3v2_version", "3", path)


def video_with_cover(path: Path, tmp: Path) -> None:
    """An iTunes-style M4V: the video, AAC, and a cover picture (an attached_pic stream)."""
    cover = tmp / "cover.png"
    ffmpeg(*lavfi("testsrc2=s=160x160:d=1"), "-frames:v", "1", cover)
    ffmpeg("-i", cover, *lavfi(V, A), "-map", "0:v", "-map", "1:v", "-map", "2:a", "-c:v:0", "png",
           "-c:v:1", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-disposition:v:0", "attached_pic", path)


def rotate_tag(value: str) -> Make:
    """Matroska whose video stream carries a "rotate" tag of ``value`` (the file's own text). ffmpeg's
    muxer takes "rotate" for itself, so the tag is written as "rotatx" (stored as ROTATX) and renamed in
    place, same length."""
    def make(path: Path, tmp: Path) -> None:
        tagged = tmp / "tagged.mkv"
        ffmpeg(*lavfi(V), *X264, "-metadata:s:v:0", f"rotatx={value}", tagged)
        data = tagged.read_bytes()
        assert data.count(b"ROTATX") == 1, "the tag name is not in the file once"
        path.write_bytes(data.replace(b"ROTATX", b"rotate"))
    return make


def has_rotate_tag(value: str) -> Callable[[Path], str | None]:
    def check(path: Path) -> str | None:
        tags = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video").get("tags", {})
        return None if tags.get("rotate") == value else f"the video's tags are {tags}"
    return check


def has_irregular_frame_times(path: Path) -> str | None:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    times = sorted(float(t) for t in out.split() if t.strip() not in ("", "N/A"))
    gaps = {round(b - a, 3) for a, b in zip(times, times[1:])}
    return None if len(gaps) > 1 else f"the frame intervals are all {gaps}: not variable"


def starts_at(seconds: float) -> Callable[[Path], str | None]:
    def check(path: Path) -> str | None:
        start = float(ffprobe(path)["format"]["start_time"])
        return None if start >= seconds - 0.1 else f"starts at {start} s, not {seconds} s"
    return check


def declared_webm_without_duration(path: Path) -> str | None:
    head = path.read_bytes()[:64]
    info = ffprobe(path)["format"]
    if b"\x42\x82\x84webm" not in head:
        return "the EBML DocType is not webm"
    return None if "duration" not in info else f"the header has a duration ({info['duration']})"


def first_frame(path: Path, width: int, height: int, *options: str) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", *options, "-i", str(path), "-frames:v", "1",
                          "-vf", f"scale={width}:{height}", "-pix_fmt", "gray", "-f", "rawvideo", "-"],
                         capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width).astype(int)


def rotation_is_applied(source: Path, top: Path, meta: dict) -> str | None:
    """The rendition shows the stored picture turned by probe's rotation, clockwise."""
    video = meta["video"]
    stored = first_frame(source, video["width"], video["height"], "-noautorotate")
    shown = first_frame(top, video["display_width"], video["display_height"])
    clockwise = {90: -1, 270: 1}[video["rotation"]]  # np.rot90 turns counter-clockwise for k > 0
    match, opposite = (np.abs(np.rot90(stored, k) - shown).mean() for k in (clockwise, -clockwise))
    return None if match < opposite / 2 else f"rotation {video['rotation']} is not what was shown"


@dataclass(frozen=True)
class Kind:
    name: str
    file: str  # the file name: the extension is part of what people upload
    make: Make
    outcome: str  # "accepted", or "rejected: <a substring of the reason>"
    what: str  # one line for the table
    expect: dict = field(default_factory=dict)  # probe's metadata fields, e.g. {"video.rotation": 90}
    check: Callable[[Path], str | None] | None = None  # the generated file really is that kind
    probe_args: tuple[str, ...] = ()
    after: Callable[[Path, Path, dict], str | None] | None = None  # (source, top rendition, metadata)


OK = "accepted"

CORPUS: list[Kind] = [
    # Containers people upload, in their usual codecs.
    Kind("mp4-h264-aac-faststart", "clip.mp4", ff(*lavfi(V, A), *X264, "-c:a", "aac", "-movflags", "+faststart"),
         OK, "MP4, H.264 + AAC, index at the front (web export)"),
    Kind("mp4-moov-at-end", "IMG_0001.mp4", ff(*lavfi(V3, A3), *X264, "-c:a", "aac"),
         OK, "MP4 with its index after the media (most phone and camera files)"),
    Kind("mp4-fragmented", "safari.mp4",
         piped(*lavfi(V, A), *X264, "-c:a", "aac", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
               "-f", "mp4"),
         OK, "fragmented MP4 written live (Safari MediaRecorder, OBS)"),
    Kind("mov-h264-rotated-90", "IMG_0002.MOV", rotated(90, ".mov", *lavfi(V, A), *X264, "-c:a", "aac"),
         OK, "MOV, portrait phone video: 160x120 stored, a 90° display matrix",
         {"video.display_width": 120, "video.display_height": 160}, after=rotation_is_applied),
    Kind("mp4-h264-rotated-270", "rotated.mp4", rotated(270, ".mp4", *lavfi(V), *X264),
         OK, "MP4 with a 270° display matrix", {"video.display_width": 120}, after=rotation_is_applied),
    Kind("mov-hevc-8bit", "IMG_0003.MOV",
         ff(*lavfi(V, A), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
            "-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-c:a", "aac"),
         OK, "MOV, HEVC 8-bit (hvc1) + AAC (iPhone)", {"video.codec": "hevc"}),
    Kind("mp4-hevc-10bit", "hdr.mp4",
         ff(*lavfi(V, A), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
            "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1", "-c:a", "aac"),
         OK, "MP4, HEVC Main 10 (10-bit)", {"video.codec": "hevc", "video.pix_fmt": "yuv420p10le"}),
    Kind("mkv-h264-aac-two-audio-tracks", "film.mkv",
         ff(*lavfi(V, A, "sine=f=660:d=2:sample_rate=44100"), "-map", "0:v", "-map", "1:a", "-map", "2:a",
            *X264, "-c:a", "aac", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra"),
         OK, "Matroska, H.264 with two audio tracks (eng, fra)", {"audio.sample_rate": 48000}),
    Kind("webm-vp8-vorbis", "old.webm", ff(*lavfi(V, A), *VP8, "-c:a", "libvorbis"),
         OK, "WebM, VP8 + Vorbis, with duration and cues", {"video.codec": "vp8", "duration_source": "header"}),
    Kind("webm-vp9-opus", "yt.webm", ff(*lavfi(V, A), *VP9, "-c:a", "libopus"),
         OK, "WebM, VP9 + Opus", {"video.codec": "vp9", "audio.codec": "opus"}),
    Kind("mediarecorder-vp8-opus", "recording.webm", piped(*lavfi(V, A), *VP8, "-c:a", "libopus", "-f", "webm"),
         OK, "browser MediaRecorder WebM, VP8 + Opus, no duration in the header, no cues",
         {"video.codec": "vp8", "duration_source": "packets"}),
    Kind("mediarecorder-vp9-opus", "recording-vp9.webm",
         piped(*lavfi(V, A), *VP9, "-c:a", "libopus", "-f", "webm"),
         OK, "browser MediaRecorder WebM, VP9 + Opus, no duration in the header",
         {"video.codec": "vp9", "duration_source": "packets"}),
    Kind("mediarecorder-av1-opus", "recording-av1.webm",
         piped(*lavfi(V, A), *SVT_AV1, "-c:a", "libopus", "-f", "webm"),
         OK, "browser MediaRecorder WebM, AV1 + Opus, no duration in the header",
         {"video.codec": "av1", "duration_source": "packets"}),
    Kind("mediarecorder-h264-opus", "recording-h264.webm",
         derived(piped(*lavfi(V, A), *X264, "-c:a", "libopus", "-f", "matroska"), ".mkv", webm_doctype),
         OK, "Chrome MediaRecorder WebM (DocType webm), H.264 + Opus, no duration in the header",
         {"video.codec": "h264", "audio.codec": "opus", "duration_source": "packets"},
         check=declared_webm_without_duration),
    Kind("mp4-av1-opus", "av1.mp4", ff(*lavfi(V, A), *SVT_AV1, "-c:a", "libopus"),
         OK, "MP4, AV1 + Opus", {"video.codec": "av1"}),
    Kind("avi-mpeg4-mp3", "divx.avi", ff(*lavfi(V, A), "-c:v", "mpeg4", "-vtag", "XVID", "-q:v", "5",
                                         "-c:a", "libmp3lame"),
         OK, "AVI, MPEG-4 Part 2 (Xvid) + MP3", {"video.codec": "mpeg4"}),
    Kind("avi-mjpeg-pcm", "CAMERA01.AVI", ff(*lavfi(V, A), "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj422p",
                                             "-c:a", "pcm_s16le"),
         OK, "AVI, Motion JPEG 4:2:2 + PCM (still cameras, webcams)", {"video.codec": "mjpeg"}),
    Kind("mp4-mpeg4-part2", "old-phone.mp4", ff(*lavfi(V, A), "-c:v", "mpeg4", "-q:v", "5", "-c:a", "aac"),
         OK, "MP4, MPEG-4 Part 2 (mp4v) + AAC", {"video.codec": "mpeg4"}),
    Kind("3gp-h263-aac", "VID0001.3gp",
         ff(*lavfi("testsrc2=s=176x144:r=15:d=2", "sine=d=2:sample_rate=16000"), "-c:v", "h263",
            "-c:a", "aac", "-ac", "1"),
         OK, "3GP, H.263 176x144 + mono AAC 16 kHz (old phones)", {"video.codec": "h263"}),
    Kind("mpeg-ps-mpeg2-mp2", "dvd.mpg", ff(*lavfi(V, A), "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"),
         OK, "MPEG program stream, MPEG-2 + MP2 (DVD, old camcorders)", {"video.codec": "mpeg2video"}),
    Kind("mpeg-ts-h264-aac", "broadcast.ts", ff(*lavfi(V, A), *X264, "-c:a", "aac"),
         OK, "MPEG transport stream, H.264 + AAC (broadcast, HLS recordings)"),
    Kind("m2ts-h264-ac3", "00001.MTS", ff(*lavfi(V, A), *X264, "-c:a", "ac3", "-f", "mpegts",
                                           "-mpegts_m2ts_mode", "1"),
         OK, "M2TS/AVCHD, H.264 + AC-3 (camcorders)", {"audio.codec": "ac3"}),
    Kind("flv-h264-aac", "stream.flv", ff(*lavfi(V, A), *X264, "-c:a", "aac"),
         OK, "FLV, H.264 + AAC (old streaming recordings)", {"container": "flv"}),
    Kind("ogv-theora-vorbis", "clip.ogv", ff(*lavfi(V, A), "-c:v", "libtheora", "-q:v", "5", "-c:a", "libvorbis"),
         OK, "Ogg, Theora + Vorbis", {"video.codec": "theora"}),
    Kind("mxf-mpeg2-422-pcm", "CAM_A001.MXF",
         ff(*lavfi(V, A), "-c:v", "mpeg2video", "-pix_fmt", "yuv422p", "-b:v", "5M", "-c:a", "pcm_s16le"),
         OK, "MXF, MPEG-2 4:2:2 + PCM (broadcast cameras)", {"container": "mxf", "video.pix_fmt": "yuv422p"}),
    Kind("wmv-wmv2-wma", "clip.wmv", ff(*lavfi(V, A), "-c:v", "wmv2", "-c:a", "wmav2"),
         OK, "ASF/WMV, WMV8 + WMA (Windows)", {"video.codec": "wmv2"}),
    Kind("gif-animated", "funny.gif", ff(*lavfi("testsrc2=s=160x120:r=10:d=2")),
         OK, "animated GIF, 20 frames", {"video.codec": "gif"}),
    # Professional and unusual picture formats.
    Kind("mov-prores-422-hq", "edit.mov",
         ff(*lavfi(V, A), "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s16le"),
         OK, "MOV, ProRes 422 HQ 10-bit + PCM (editing export)",
         {"video.codec": "prores", "video.pix_fmt": "yuv422p10le"}),
    Kind("mov-prores-4444-alpha", "overlay.mov",
         ff(*lavfi(V), "-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuva444p10le"),
         OK, "MOV, ProRes 4444 with alpha", {"video.profile": "4444", "video.pix_fmt": "yuva444p12le"}),
    Kind("mp4-h264-422", "422.mp4", ff(*lavfi(V), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv422p"),
         OK, "MP4, H.264 High 4:2:2", {"video.pix_fmt": "yuv422p"}),
    Kind("mkv-h264-444", "444.mkv", ff(*lavfi(V), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
         OK, "Matroska, H.264 High 4:4:4 Predictive", {"video.pix_fmt": "yuv444p"}),
    Kind("mp4-h264-interlaced", "1080i.mp4",
         ff(*lavfi(V), *X264, "-flags", "+ildct+ilme", "-x264-params", "interlaced=1:tff=1"),
         OK, "MP4, interlaced H.264 (top field first)"),
    Kind("ts-mpeg2-interlaced", "1080i.ts",
         ff(*lavfi(V, A), "-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-c:a", "mp2"),
         OK, "MPEG-TS, interlaced MPEG-2 (broadcast)"),
    Kind("mp4-wide-1920x200", "banner.mp4", ff(*lavfi("testsrc2=s=1920x200:r=25:d=1"), *X264),
         OK, "extreme aspect ratio 1920x200 (9.6:1)", {"video.display_width": 1920, "video.display_height": 200}),
    Kind("mp4-tall-200x1920", "story.mp4", ff(*lavfi("testsrc2=s=200x1920:r=25:d=1"), *X264),
         OK, "extreme portrait 200x1920", {"video.display_width": 200, "video.display_height": 1920}),
    Kind("webm-vp9-odd-101x99", "odd.webm", ff(*lavfi(V), "-vf", "scale=101:99,setsar=1", "-pix_fmt", "yuv420p", *VP9),
         OK, "odd dimensions 101x99 (screen recordings)", {"video.width": 101, "video.height": 99}),
    Kind("mp4-anamorphic", "dv-wide.mp4", ff(*lavfi(V), *X264, "-vf", "setsar=2"),
         OK, "anamorphic: 160x120 stored, pixel aspect 2:1", {"video.display_width": 320}),
    Kind("mov-120fps", "slowmo.mov", ff(*lavfi("testsrc2=s=160x120:r=120:d=1"), *X264),
         OK, "120 fps (slow-motion phone video; the ladder caps at 60)", {"video.fps": 120.0}),
    # Timing.
    Kind("mp4-variable-frame-rate", "vfr.mp4",
         ff(*lavfi("testsrc2=s=160x120:r=30:d=3"), "-vf", "select='not(mod(n\\,3))+eq(mod(n\\,7)\\,1)'",
            "-fps_mode", "vfr", *X264),
         OK, "variable frame rate (phones in low light)", check=has_irregular_frame_times),
    Kind("mp4-starts-at-10s", "offset.mp4", ff(*lavfi(V, A), *X264, "-c:a", "aac", "-output_ts_offset", "10"),
         OK, "timestamps start at 10 s, not 0", {"duration_s": 2.0}, check=starts_at(10)),
    Kind("mkv-starts-at-10s", "offset.mkv", ff(*lavfi(V, A), *VP9, "-c:a", "libopus", "-output_ts_offset", "10"),
         OK, "Matroska whose timestamps start at 10 s", check=starts_at(10)),
    Kind("mp4-long-gop-600", "longgop.mp4", ff(*lavfi("testsrc2=s=160x120:r=25:d=8"), *X264, "-g", "600"),
         OK, "one keyframe in 8 s (-g 600)", {"duration_s": 8.0}),
    Kind("mp4-single-frame", "frame.mp4", ff(*lavfi(V), *X264, "-frames:v", "1"),
         OK, "a video of one frame (0.04 s)"),
    Kind("mp4-audio-outlasts-video", "screencast.mp4",
         ff(*lavfi(V, "sine=f=440:d=5:sample_rate=48000"), *X264, "-c:a", "aac"),
         OK, "sound runs 3 s past the picture (screen recordings, edits)", {"duration_s": 5.0}),
    Kind("mp4-no-audio", "silent.mp4", ff(*lavfi(V), *X264), OK, "video only, no audio track", {"audio": None}),
    Kind("mp4-audio-first", "audio-first.mp4", ff(*lavfi(V, A), "-map", "1:a", "-map", "0:v", *X264, "-c:a", "aac"),
         OK, "the audio track comes before the video track"),
    Kind("mkv-rotate-tag-nan", "tagged.mkv", rotate_tag("nan"),
         OK, 'Matroska with a "rotate" tag of "nan" (found by the fuzz run; not a rotation)',
         {"video.rotation": 0, "video.display_width": 160}, check=has_rotate_tag("nan")),
    Kind("mov-timecode-track", "A001C003.mov", ff(*lavfi(V, A), *X264, "-c:a", "aac", "-timecode", "01:00:00:00"),
         OK, "MOV with a timecode (tmcd) data track (pro cameras)"),
    Kind("m4v-with-cover-art", "movie.m4v", video_with_cover,
         OK, "M4V with a cover picture besides the video", {"video.codec": "h264", "video.display_height": 120}),
    Kind("mp4-with-subtitles", "subtitled.mp4", with_subtitles(("-c:s", "mov_text")),
         OK, "MP4 with a mov_text subtitle track"),
    # Audio oddities.
    Kind("mp4-audio-5.1", "surround.mp4", ff(*lavfi(V, "sine=f=440:d=2:sample_rate=48000"), *X264, "-c:a", "aac",
                                             "-ac", "6"),
         OK, "5.1 surround AAC", {"audio.channels": 6}),
    Kind("mp4-audio-22050hz", "lowrate.mp4", ff(*lavfi(V, "sine=d=2:sample_rate=22050"), *X264, "-c:a", "aac"),
         OK, "AAC at 22050 Hz", {"audio.sample_rate": 22050}),
    Kind("mkv-flac-37800hz", "odd-rate.mkv", ff(*lavfi(V, "sine=d=2:sample_rate=37800"), *X264, "-c:a", "flac"),
         OK, "FLAC at 37800 Hz", {"audio.sample_rate": 37800}),
    Kind("avi-pcm-11025hz-mono", "webcam.avi", ff(*lavfi(V, "sine=d=2:sample_rate=11025"), "-c:v", "mjpeg",
                                                  "-pix_fmt", "yuvj420p", "-c:a", "pcm_u8", "-ac", "1"),
         OK, "8-bit PCM mono at 11025 Hz", {"audio.sample_rate": 11025, "audio.channels": 1}),

    # Not videos: each reason says what the file is.
    Kind("empty", "upload.mp4", data(b""), "rejected: The file is empty (0 bytes).", "zero bytes"),
    Kind("png-photo", "photo.png", ff(*lavfi(V), "-frames:v", "1"),
         "rejected: The file is a still image (PNG), not a video.", "PNG image"),
    Kind("png-renamed-mp4", "photo.mp4", ff(*lavfi(V), "-frames:v", "1", "-f", "image2", "-c:v", "png"),
         "rejected: The file is a still image (PNG), not a video.", "PNG image named .mp4"),
    Kind("jpeg-photo", "IMG_0004.JPG", ff(*lavfi(V), "-frames:v", "1"),
         "rejected: The file is a still image (JPEG), not a video.", "JPEG photo"),
    Kind("gif-one-frame", "still.gif", ff(*lavfi(V), "-frames:v", "1"),
         "rejected: The file is a still image (GIF), not a video.", "GIF with a single frame"),
    Kind("webp-image", "sticker.webp", ff(*lavfi(V), "-frames:v", "1", "-c:v", "libwebp"),
         "rejected: The file is a still image (WebP), not a video.", "WebP image"),
    Kind("tiff-image", "scan.tif", ff(*lavfi(V), "-frames:v", "1"),
         "rejected: The file is a still image (TIFF), not a video.", "TIFF image"),
    Kind("heic-photo", "IMG_0005.HEIC", data(heic_photo),
         "rejected: The file is a still image (HEIC), not a video.", "iPhone HEIC photo (its first boxes)"),
    Kind("mp3", "song.mp3", ff(*lavfi(A), "-c:a", "libmp3lame"),
         "rejected: audio only, no video stream (MP3 file, MP3 audio)", "MP3"),
    Kind("mp3-with-cover-art", "album.mp3", mp3_with_cover,
         "rejected: audio only, no video stream (MP3 file, MP3 audio, with cover art)",
         "MP3 with embedded cover art (a picture, not a video)"),
    Kind("wav", "voice.wav", ff(*lavfi(A)), "rejected: audio only, no video stream (WAV file, PCM audio)", "WAV"),
    Kind("m4a", "voice-memo.m4a", ff(*lavfi(A), "-c:a", "aac"),
         "rejected: audio only, no video stream (M4A file, AAC audio)", "M4A (AAC), e.g. a voice memo"),
    Kind("ogg-vorbis", "track.ogg", ff(*lavfi(A), "-c:a", "libvorbis"),
         "rejected: audio only, no video stream (Ogg file, Vorbis audio)", "Ogg Vorbis"),
    Kind("webm-audio-only", "voice.webm", piped(*lavfi(A), "-c:a", "libopus", "-f", "webm"),
         "rejected: audio only, no video stream (WebM file, Opus audio)", "MediaRecorder audio/webm (Opus)"),
    Kind("subtitles-in-matroska", "captions.mks", subtitles_only,
         "rejected: The file has no video or audio stream, only subtitles; a video is required.",
         "Matroska holding only subtitles"),
    Kind("text", "notes.mp4", data(b"Meeting notes, not a video.\n" * 40),
         "rejected: The file is plain text, not a video.", "a text file named .mp4"),
    Kind("html-error-page", "video.mp4",
         data(b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
              b"<body><h1>502 Bad Gateway</h1></body></html>\n"),
         "rejected: The file is an HTML page, not a video.", "an HTML error page saved instead of the video"),
    Kind("s3-error-xml", "download.mp4",
         data(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
              b"<Message>Access Denied</Message></Error>"),
         "rejected: The file is an XML document, not a video.", "an S3 error response saved as the video"),
    Kind("hls-playlist", "stream.m3u8",
         data(b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"),
         "rejected: The file is an HLS playlist", "an HLS playlist naming a local file (never opened)"),
    # Files that point elsewhere, made to hide from the text test; ffmpeg refuses their formats too.
    Kind("hls-padded-with-controls", "holiday.mp4",
         pointing_at_a_video(lambda video: f"#EXTM3U\n#{CONTROLS}\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n"
                                           f"file://{video}\n#EXT-X-ENDLIST\n"),
         "rejected: The file is an HLS playlist", "an HLS playlist naming a local video, control characters "
         "in its first kilobyte"),
    Kind("ffconcat-script", "clips.mkv",
         pointing_at_a_video(lambda video: f"ffconcat version 1.0\n#{CONTROLS}\nfile {video.name}\n"),
         "rejected: The file is an ffmpeg concat script", "an ffmpeg concat script naming a local video, "
         "control characters in its first kilobyte"),
    Kind("dash-manifest", "manifest.webm",
         pointing_at_a_video(lambda video: '<?xml version="1.0"?>\n<!-- ' + CONTROLS + ' -->\n'
                             '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
                             'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet>'
                             f'<Representation id="1" bandwidth="1"><BaseURL>file://{video}</BaseURL>'
                             '</Representation></AdaptationSet></Period></MPD>\n'),
         "rejected: The file is a DASH manifest", "a DASH manifest naming a local video, control characters "
         "in its first kilobyte"),
    Kind("imf-composition-playlist", "cpl.mxf",
         data(b'<?xml version="1.0"?>\n<CompositionPlaylist xmlns="http://www.smpte-ra.org/schemas/2067-3/2016">'
              b"<ContentTitle>Feature</ContentTitle></CompositionPlaylist>\n"),
         "rejected: The file is an IMF composition playlist", "an IMF composition playlist (names MXF files)"),
    Kind("sdp-session", "camera.ts",
         data(b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=camera\nc=IN IP4 127.0.0.1\nt=0 0\n"
              b"m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n"),
         "rejected: The file is an SDP session description", "an SDP description (ffmpeg would listen for RTP)"),
    Kind("image-sequence-name", "frame%03d.jpg", named_as_a_sequence,
         "rejected: makes ffmpeg read it as an image or a numbered image sequence",
         "an MP4 named like a numbered image sequence, frame000.jpg... beside it"),
    Kind("srt-subtitles", "captions.srt", data(b"1\n00:00:01,000 --> 00:00:02,000\nHello\n"),
         "rejected: The file is a SubRip (SRT) subtitle file, not a video.", "SRT subtitles"),
    Kind("pdf", "brochure.pdf", data(minimal_pdf), "rejected: The file is a PDF document, not a video.", "PDF"),
    Kind("zip-with-video", "videos.zip", zipped_video,
         "rejected: The file is a ZIP archive (or an Office document), not a video.", "a ZIP holding an MP4"),
    Kind("random-bytes", "random.mp4", data(lambda: random.Random(0).randbytes(64 * 1024)),
         "rejected: The file is not a video ffmpeg can read (unrecognised or corrupt data).", "64 KiB of random bytes"),
    # Cut short or damaged: the reason says how.
    Kind("mp4-cut-before-moov", "cut.mp4", derived(ff(*lavfi(V3), *X264), ".mp4", lambda b: b[: len(b) // 2]),
         "rejected: its index (moov atom) is missing because the upload was cut short",
         "phone MP4 (index at the end) cut in half"),
    Kind("mp4-cut-in-moov", "cut-header.mp4",
         derived(ff(*lavfi(V3), *X264, "-movflags", "+faststart"), ".mp4", cut_in_moov),
         "rejected: it ends inside its index (moov atom)", "faststart MP4 cut inside its index"),
    Kind("mp4-cut-in-header", "cut-ftyp.mp4", derived(ff(*lavfi(V3), *X264), ".mp4", lambda b: b[:20]),
         "rejected: it ends inside its header", "MP4 cut after 20 bytes"),
    Kind("mp4-cut-in-media", "cut-data.mp4",
         derived(ff(*lavfi(V3), *X264, "-movflags", "+faststart"), ".mp4", lambda b: b[: len(b) // 2]),
         "rejected: it ends inside its media data", "faststart MP4 cut in half"),
    Kind("mp4-recording-interrupted", "interrupted.mp4", derived(ff(*lavfi(V3), *X264), ".mp4", without_moov),
         "rejected: the recording was interrupted before the index was written",
         "MP4 with whole media data and no index"),
    Kind("mp4-fragments-only", "segment.m4s",
         derived(piped(*lavfi(V3), *X264, "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"),
                 ".mp4", fragments_only),
         "rejected: part of a fragmented MP4 stream", "a CMAF/DASH media segment without its init segment"),
    Kind("mkv-cut-in-half", "cut.mkv", derived(ff(*lavfi(V3), *X264), ".mkv", lambda b: b[: len(b) // 2]),
         "rejected: The Matroska file is truncated: its data stops at", "Matroska cut in half"),
    Kind("webm-cut-in-header", "cut.webm", derived(ff(*lavfi(V), *VP8), ".webm", lambda b: b[:100]),
         "rejected: The WebM file cannot be read: its header is cut short or damaged", "WebM cut after 100 bytes"),
    Kind("mp4-media-zeroed", "zeroed.mp4", derived(ff(*lavfi(V3), *X264), ".mp4", zero_mdat),
         "rejected: cannot be decoded at the start although the MP4 file is complete",
         "MP4 whose media data is all zeros (a damaged disk or copy)"),
    # Over the limits (the defaults: 4 h, 7680x4320).
    Kind("over-4-hours", "long.mp4", ff(*lavfi("testsrc2=s=64x64:r=1/60:d=14460"), *X264),
         "rejected: The video is 14460 s long, over the limit of 14400 s.", "4 h 1 min (one frame a minute)"),
    Kind("over-8k-wide", "huge.mp4", ff(*lavfi("testsrc2=s=8000x64:r=25:d=1"), *X264),
         "rejected: The video is 8000x64, larger than the limit of 7680x4320.", "8000x64 picture"),
]

_results: dict[str, dict] = {}


def worker(*args: str | Path) -> tuple[int, dict, str]:
    """``video-worker`` as the orchestrator runs it; a hang is a failure that says so."""
    try:
        proc = subprocess.run(["video-worker", *map(str, args)], capture_output=True, text=True,
                              timeout=STAGE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"video-worker {' '.join(map(str, args))} hung for over {STAGE_TIMEOUT_S} s")
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}, proc.stderr


def field_of(meta: dict, dotted: str):
    for part in dotted.split("."):
        meta = meta[part] if meta is not None else None
    return meta


@pytest.fixture(scope="module")
def table():
    yield _results
    _write_table(_results)


def test_the_corpus_has_at_least_40_kinds():
    assert len(CORPUS) >= 40
    assert len({k.name for k in CORPUS}) == len(CORPUS)
    assert sum(k.outcome == OK for k in CORPUS) >= 40 and sum(k.outcome != OK for k in CORPUS) >= 20


@pytest.mark.parametrize("kind", CORPUS, ids=[k.name for k in CORPUS])
def test_corpus(kind: Kind, tmp_path, table):
    started = time.monotonic()
    source = tmp_path / kind.file
    kind.make(source, tmp_path)
    if kind.check:
        problem = kind.check(source)
        assert problem is None, f"the generated {kind.name} is not what it claims: {problem}"
    row = table.setdefault(kind.name, {"kind": kind, "size": source.stat().st_size})

    code, result, log = worker("probe", "--source", source, "--dest", tmp_path / "probe", *kind.probe_args)
    assert code in (0, 2), f"probe exited {code} (a crash or a retry) on {kind.name}: {result}\n{log[-2000:]}"
    if kind.outcome != OK:
        reason = kind.outcome.removeprefix("rejected: ")
        row.update(result=f"exit 2: {result.get('error')}", seconds=time.monotonic() - started)
        assert code == 2, f"{kind.name} was accepted, expected '{reason}': {result}"
        assert (result["permanent"], result["kind"], result["stage"]) == (True, "input", "probe")
        assert reason in result["error"], result["error"]
        assert "truncated or corrupt" not in result["error"], "a vague reason where a precise one exists"
        assert not (tmp_path / "probe").exists() or not list((tmp_path / "probe").iterdir())
        return

    assert code == 0, f"{kind.name} was rejected: {result.get('error')}\n{log[-1500:]}"
    meta = result["metadata"]
    for name, value in kind.expect.items():
        got = field_of(meta, name)
        if isinstance(value, float):
            assert got == pytest.approx(value, abs=0.05), (name, got)
        else:
            assert got == value, (name, got)
    assert meta["duration_s"] > 0

    code, out, log = worker("transcode", "--source", source, "--dest", tmp_path / "transcode",
                            "--ladder", "240", "--preset", "ultrafast", "--split-over", "0")
    assert code == 0, f"transcode exited {code} on {kind.name}: {out.get('error')}\n{log[-2000:]}"
    top = tmp_path / "transcode" / out["top"]
    info = ffprobe(top)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    display_w, display_h = meta["video"]["display_width"], meta["video"]["display_height"]
    assert (video["width"] >= video["height"]) == (display_w >= display_h), "orientation lost"
    assert min(video["width"], video["height"]) == min(240, min(display_w, display_h) // 2 * 2)
    assert bool(audio) == (meta["audio"] is not None)
    if audio:
        assert (audio[0]["codec_name"], audio[0]["channels"]) == ("aac", 2)
    if kind.after:
        problem = kind.after(source, top, meta)
        assert problem is None, problem
    duration = float(info["format"]["duration"])
    assert duration == pytest.approx(meta["duration_s"], abs=0.3 + 0.05 * meta["duration_s"])
    row.update(result=(f"exit 0; {meta['video']['codec']} {display_w}x{display_h}, "
                       f"{meta['duration_s']:g} s ({meta['duration_source']}) → "
                       f"{out['renditions'][0]['name']} {video['width']}x{video['height']}, {duration:.2f} s"),
               seconds=time.monotonic() - started)


def _write_table(results: dict[str, dict]) -> None:
    if not results:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    lines = [
        f"Generated by `tests/worker/test_corpus.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.node() or 'unknown host'} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"{_ffmpeg_version()}. {len(results)} kinds.",
        "",
        "| kind | file | what it is | expected | result (probe, then transcode `--ladder 240`) | s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in CORPUS:
        row = results.get(kind.name)
        if row is None:
            continue
        cells = [kind.name, f"`{kind.file}`", kind.what, kind.outcome, row.get("result", "not run (failed)"),
                 f"{row.get('seconds', 0):.1f}"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    (ARTIFACTS / "corpus.md").write_text("\n".join(lines) + "\n")


def _ffmpeg_version() -> str:
    """The worker's ffmpeg (VIDEO_WORKER_FFMPEG) and ffprobe, as their ``-version`` lines name them."""
    named = []
    for tool in (worker_settings().ffmpeg_command, "ffprobe"):
        out = subprocess.run([tool, "-version"], capture_output=True, text=True, check=False).stdout
        named.append(out.split(" Copyright")[0].strip() if out else f"{Path(tool).name} (version unknown)")
    return ", ".join(named)


LONG_NAME = "incoming/" + "ü" * 300 + "-" + "x" * (1000 - len("incoming/") - 601 - len(".mp4")) + ".mp4"
AWKWARD_KEYS = [
    "incoming/with spaces/my holiday video (1).mp4",
    "incoming/ünïcødé/видео 視頻 🎬.mp4",
    "incoming/#?%+&=;,@$!'.mp4",
    "incoming/100% done+final&v2?.mp4",
    "incoming/<script>alert(1)</script>.mp4",
    'incoming/"><img src=x onerror=alert(1)>.mp4',
    "incoming/../../etc/passwd.mp4",
    "../escape.mp4",
    "incoming/concat:a.mp4|file:b.mp4",
    "incoming/clip/..",
    LONG_NAME,
]


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("s3-corpus") / "clip.mp4"
    ffmpeg(*lavfi(V, A), *X264, "-c:a", "aac", path)
    return path


def test_the_long_key_is_1000_bytes():
    assert len(LONG_NAME.encode()) == 1000


@pytest.mark.parametrize("key", AWKWARD_KEYS, ids=[f"key{i}" for i in range(len(AWKWARD_KEYS))])
def test_awkward_s3_keys_are_processed(s3, bucket, small_clip, key):
    """Probe and transcode read the source through S3 under the key as given; outputs land under
    the dest prefix (here a plain one: a 1,000-byte key plus a suffix would pass S3's 1,024)."""
    s3.upload_file(str(small_clip), bucket, key)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == small_clip.stat().st_size
    source = f"s3://{bucket}/{key}"
    prefix = f"awkward/{AWKWARD_KEYS.index(key)}"
    for stage, extra in (("probe", ()), ("transcode", ("--ladder", "240", "--preset", "ultrafast"))):
        code, result, log = worker(stage, "--source", source, "--dest", f"s3://{bucket}/{prefix}/{stage}/", *extra)
        assert code == 0, f"{stage} of {key!r} exited {code}: {result.get('error')}\n{log[-1500:]}"
        assert result["source"] == source
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{stage}/")["Contents"]}
        assert f"{prefix}/{stage}/manifest.json" in keys
        assert {uri.removeprefix(f"s3://{bucket}/") for uri in result["artifacts"].values()} <= keys
    assert result["top"] == "renditions/120p.mp4"  # the 160x120 clip's own size, below the 240 rung
    assert f"{prefix}/transcode/renditions/120p.mp4" in keys
