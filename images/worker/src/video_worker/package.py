"""package: adaptive streaming, HLS and MPEG-DASH, from the transcode ladder without re-encoding.

``--source`` is the transcode stage's manifest.json; its renditions are read from
beside it. Shaka Packager cuts them at the keyframes transcode forced into CMAF
(fragmented MP4) segments that both protocols share, so one set of files serves
one HLS master playlist and one MPD, each listing every rendition, the audio and
the WebVTT subtitle tracks.

``--key`` encrypts the segments with CENC (``cenc``, AES-CTR) under the video's
ClearKey key, read from a private JSON object (``{"key_id": hex, "key": hex}``) and
handed to the packager in a 0600 flag file, so that the key is never on a command
line, in a log or in XCom. No file written here
contains it: a player gets it from a license server, by the key id.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path

from video_contract.manifests import PackageManifest, StreamRendition, StreamSubtitles, TranscodeManifest
from video_worker import ffmpeg, languages, settings
from video_worker.errors import UsageError
from video_worker.storage import Location

log = logging.getLogger(__name__)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subtitles", action="append", default=[], metavar="LANG=URI",
                        help="a WebVTT track and its language, e.g. "
                             "en=s3://bucket/work/id/transcribe/subtitles.vtt (repeatable)")
    parser.add_argument("--segment-seconds", type=settings.positive(int),
                        default=settings.worker_settings().segment_s,
                        help="segment length, a multiple of the ladder's keyframe interval "
                             "(env VIDEO_WORKER_SEGMENT_S)")
    parser.add_argument("--key", metavar="URI",
                        help="CENC-encrypt with the ClearKey key in this private JSON object: "
                             '{"key_id": hex, "key": hex}')


def clearkey(uri: str, workdir: Path) -> tuple[str, str]:
    """(key id, key) from the key object, as 32 lower-case hex digits each."""
    try:
        data = json.loads(Location(uri).download(workdir / "key").read_text())
        kid, key = str(data["key_id"]).lower().replace("-", ""), str(data["key"]).lower()
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--key {uri}: not a JSON object with key_id and key") from exc
    if not (HEX32.match(kid) and HEX32.match(key)):
        raise UsageError(f"--key {uri}: key_id and key must be 32 hex digits each")
    return kid, key


def _key_flagfile(key: tuple[str, str], workdir: Path) -> Path:
    """The key as a packager flag in a file only this user can read: never on a command line."""
    path = workdir / "keys.flags"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as flags:
        flags.write(f"--keys=label=CONTENT:key_id={key[0]}:key={key[1]}\n")
    return path


def _subtitle_tracks(specs: list[str], workdir: Path) -> list[tuple[str, Path]]:
    tracks = []
    for spec in specs:
        language, uri = languages.parse_track(spec)
        local = Location(uri).download(workdir / f"subtitles-{language}").resolve()
        tracks.append((language, local))
    return tracks


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> PackageManifest:
    try:
        ladder = TranscodeManifest.from_json(json.loads(source.read_text()))
    except ValueError as exc:  # not JSON, or a ManifestError naming the field
        raise UsageError(f"--source {args.source} is not a transcode manifest.json: {exc}") from exc
    renditions = ladder.renditions
    keyframe_s = ladder.keyframe_interval_s
    if args.segment_seconds % keyframe_s:
        raise UsageError(f"--segment-seconds {args.segment_seconds} is not a multiple of the ladder's "
                         f"{keyframe_s} s keyframe interval")
    key = clearkey(args.key, workdir) if args.key else None
    prefix = Location(args.source.rsplit("/", 1)[0] if "/" in args.source else ".")
    files = {r.name: Location(prefix.join(r.file)).download(workdir / r.name).resolve() for r in renditions}
    protect = ",drm_label=CONTENT" if key else ""

    streams = [f"in={files[r.name]},stream=video,init_segment={r.name}/init.mp4,"
               f"segment_template={r.name}/$Number$.m4s,playlist_name={r.name}.m3u8{protect}"
               for r in renditions]
    if ladder.has_audio:
        streams.append(f"in={files[renditions[0].name]},stream=audio,init_segment=audio/init.mp4,"
                       f"segment_template=audio/$Number$.m4s,playlist_name=audio.m3u8,"
                       f"hls_group_id=audio,hls_name=Audio{protect}")
    subtitles = _subtitle_tracks(args.subtitles, workdir)
    for language, vtt in subtitles:
        label = languages.name(language).replace(",", "")  # a comma would end the stream descriptor's field
        streams.append(f"in={vtt},stream=text,language={language},"
                       f"segment_template=subtitles-{language}/$Number$.vtt,"
                       f"playlist_name=subtitles-{language}.m3u8,hls_group_id=subtitles,"
                       f"hls_name={label},dash_label={label}")
    options: list[str | Path] = ["--segment_duration", str(args.segment_seconds),
               "--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8"]
    if key:
        options += ["--enable_raw_key_encryption", "--protection_scheme", "cenc", "--clear_lead", "0",
                    "--protection_systems", "CommonSystem", "--flagfile", _key_flagfile(key, workdir)]
    ffmpeg.run([*streams, *options], tool=settings.worker_settings().packager, cwd=out)

    packaged = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    ladder_bytes = sum(path.stat().st_size for path in files.values())
    return PackageManifest(
        hls="master.m3u8",
        dash="manifest.mpd",
        renditions=[StreamRendition(name=r.name, width=r.width, height=r.height) for r in renditions],
        audio=ladder.has_audio,
        subtitles=[StreamSubtitles(language=language, name=languages.name(language),
                                   playlist=f"subtitles-{language}.m3u8") for language, _ in subtitles],
        segment_seconds=args.segment_seconds,
        encrypted=key is not None,
        key_id=key[0] if key else None,
        size_bytes=packaged,
        ladder_bytes=ladder_bytes,
        size_overhead=round(packaged / ladder_bytes - 1, 4) if ladder_bytes else None,
    )
