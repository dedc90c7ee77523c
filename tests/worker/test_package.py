"""package: HLS and DASH from the real transcode ladder on S3 (moto server), checked file by file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import ffprobe

KEY_ID, KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90", "00112233445566778899aabbccddeeff"
MPD = {"mpd": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}
VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.500\nA cat &amp; a dog\n\n00:00:02.600 --> 00:00:03.900\nThe end\n"


@pytest.fixture(scope="module")
def ladder(run_worker, hd_clip, s3, bucket) -> str:
    """The transcode stage's output on S3, as the DAG leaves it; returns its manifest's URI."""
    result = run_worker("transcode", "--source", hd_clip, "--dest", f"s3://{bucket}/work/pkg/transcode/",
                        "--ladder", "480,360")
    assert result.returncode == 0, result.stderr
    s3.put_object(Bucket=bucket, Key="work/pkg/transcribe/subtitles.vtt", Body=VTT.encode())
    return f"s3://{bucket}/work/pkg/transcode/manifest.json"


def package(run_worker, ladder, dest: Path, *extra: str, env: dict | None = None):
    subtitles = ladder.replace("transcode/manifest.json", "transcribe/subtitles.vtt")
    return run_worker("package", "--source", ladder, "--dest", dest, "--subtitles", f"en={subtitles}",
                      *extra, env=env)


def media_files(out: Path, playlist: str) -> list[Path]:
    """The init segment and every segment an HLS media playlist names, in order."""
    text = (out / playlist).read_text()
    init = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
    segments = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [out / name for name in [*init, *segments]]


def joined(out: Path, playlist: str, target: Path) -> Path:
    target.write_bytes(b"".join(p.read_bytes() for p in media_files(out, playlist)))
    return target


def test_hls_and_dash_list_every_rendition_audio_and_subtitles(run_worker, ladder, tmp_path):
    result = package(run_worker, ladder, tmp_path)
    assert result.returncode == 0, result.stderr
    m = result.manifest
    assert (m["hls"], m["dash"], m["audio"], m["encrypted"]) == ("master.m3u8", "manifest.mpd", True, False)
    assert [r["name"] for r in m["renditions"]] == ["480p", "360p"]

    master = (tmp_path / "master.m3u8").read_text()
    variants = re.findall(r"#EXT-X-STREAM-INF:.*RESOLUTION=(\d+x\d+).*\n(\S+)", master)
    assert variants == [("854x480", "480p.m3u8"), ("640x360", "360p.m3u8")]
    assert 'TYPE=AUDIO,URI="audio.m3u8"' in master
    subtitles = r'TYPE=SUBTITLES,URI="subtitles-en.m3u8",GROUP-ID="subtitles",LANGUAGE="en",NAME="English"'
    assert re.search(subtitles, master)

    mpd = ET.parse(tmp_path / "manifest.mpd").getroot()
    sets = {a.get("contentType"): a for a in mpd.iter(f"{{{MPD['mpd']}}}AdaptationSet")}
    video = [(int(r.attrib["width"]), int(r.attrib["height"]))
             for r in sets["video"].findall("mpd:Representation", MPD)]
    assert video == [(854, 480), (640, 360)]
    audio = sets["audio"].find("mpd:Representation", MPD)
    assert audio is not None and audio.get("mimeType") == "audio/mp4"
    assert sets["text"].get("lang") == "en"
    text = sets["text"].find("mpd:Representation", MPD)
    assert text is not None and text.get("mimeType") == "text/vtt"

    for playlist in ("480p.m3u8", "360p.m3u8", "audio.m3u8"):
        files = media_files(tmp_path, playlist)
        assert all(p.is_file() for p in files), playlist
        assert files[0].read_bytes()[4:8] == b"ftyp" and all(b"moof" in p.read_bytes() for p in files[1:])
    cues = "".join(p.read_text() for p in media_files(tmp_path, "subtitles-en.m3u8"))
    assert "A cat &amp; a dog" in cues and "The end" in cues


def test_packaging_copies_the_ladder_never_re_encodes(run_worker, ladder, s3, bucket, tmp_path):
    result = package(run_worker, ladder, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    source = tmp_path / "360p.mp4"
    s3.download_file(bucket, "work/pkg/transcode/renditions/360p.mp4", str(source))
    packaged = joined(tmp_path / "out", "360p.m3u8", tmp_path / "joined.mp4")

    def video(path: Path) -> dict:
        stream = next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")
        packets = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                                  "packet=size", "-of", "csv=p=0", str(path)],
                                 capture_output=True, text=True, check=True).stdout.split()
        return {"profile": stream["profile"], "level": stream["level"], "packet_sizes": packets}

    assert video(packaged) == video(source)  # the same coded frames, byte for byte in size
    # Segment headers cost a few percent; the audio, in every rendition's MP4, is packaged once.
    assert result.manifest["size_bytes"] < 1.1 * result.manifest["ladder_bytes"]


def test_encrypted_package_names_the_key_id_and_never_holds_the_key(run_worker, ladder, s3, bucket, tmp_path):
    out = tmp_path / "enc"
    s3.put_object(Bucket=bucket, Key="keys/pkg/clearkey.json", Body=json.dumps({"key_id": KEY_ID, "key": KEY}))
    # The packager as the process list shows it: a wrapper records its command line.
    argv = tmp_path / "packager-argv.txt"
    recorder = tmp_path / "packager"
    recorder.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv}\nexec {shutil.which("packager")} "$@"\n')
    recorder.chmod(0o755)
    result = package(run_worker, ladder, out, "--key", f"s3://{bucket}/keys/pkg/clearkey.json", "--verbose",
                     env={"VIDEO_WORKER_PACKAGER": str(recorder)})
    assert result.returncode == 0, result.stderr
    assert result.manifest["encrypted"] and result.manifest["key_id"] == KEY_ID
    assert "--enable_raw_key_encryption" in argv.read_text() and KEY not in argv.read_text()
    assert "running: " in result.stderr and KEY not in result.stderr  # commands are logged, at debug, keyless

    mpd = ET.parse(out / "manifest.mpd").getroot()
    kids = {kid for p in mpd.iter(f"{{{MPD['mpd']}}}ContentProtection")
            if (kid := p.get(f"{{{MPD['cenc']}}}default_KID")) is not None}
    assert {k.replace("-", "") for k in kids} == {KEY_ID}
    assert "METHOD=SAMPLE-AES-CTR" in (out / "360p.m3u8").read_text()
    init = (out / "360p" / "init.mp4").read_bytes()
    assert b"tenc" in init and b"pssh" in init and bytes.fromhex(KEY_ID) in init

    for path in out.rglob("*"):  # neither the key's bytes nor its text, anywhere
        if path.is_file():
            data = path.read_bytes()
            assert bytes.fromhex(KEY) not in data and KEY.encode() not in data, path

    packaged = joined(out, "360p.m3u8", tmp_path / "joined.mp4")

    def decode(*key: str) -> str:
        return subprocess.run(["ffmpeg", "-v", "error", *key, "-i", str(packaged), "-f", "null", "-"],
                              capture_output=True, text=True).stderr

    assert decode("-decryption_key", KEY) == ""  # with the key: clean
    assert "error while decoding" in decode()  # without it: noise


def test_a_malformed_key_is_a_usage_error(run_worker, ladder, tmp_path):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"key_id": KEY_ID, "key": "too short"}))
    result = package(run_worker, ladder, tmp_path / "out", "--key", key)
    assert result.returncode == 3 and result.manifest["kind"] == "usage"
    assert "32 hex digits" in result.manifest["error"]


def test_segments_must_align_with_the_ladder_keyframes(run_worker, ladder, tmp_path):
    result = package(run_worker, ladder, tmp_path, "--segment-seconds", "3")
    assert result.returncode == 3 and "keyframe" in result.manifest["error"]
