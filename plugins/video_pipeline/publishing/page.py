"""A video's page (``video.html.j2``): what it shows of the run's manifests, and its upload with the
player script when the video has a stream.

The page sits next to its files, so every name in it is a relative URL. It shows what the ``shown``
manifests (site_files) hold: an encrypted video's page, the stream and the probe's facts only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from video_contract.manifests import UNSURE_ANIMAL, Chapter, Cue, RunManifests
from video_pipeline import csp
from video_pipeline.config import Settings
from video_pipeline.planning import UNDETERMINED_LANGUAGE
from video_pipeline.publishing import objects, templates, webvtt
from video_pipeline.publishing.site_files import SOFT, STREAM, VIDEO
from video_pipeline.publishing.subtitles import SubtitleTrack

# The adaptive player, from npm (package-lock.json), served from the site: no third-party CDN.
PLAYER_JS = templates.ROOT / "node_modules" / "shaka-player" / "dist" / "shaka-player.compiled.js"
STATICS = ("style.css", "player.js", "favicon.svg")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Player:
    src: str | None  # the MP4 (none for an encrypted video: it plays only as a stream)
    width: int
    height: int
    burned: bool  # the subtitles are in the picture: the page offers its text track without showing it
    poster: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stream:
    dash: str
    hls: str
    encrypted: bool
    key_id: str | None
    player: str  # the player script's URL
    license_url: str  # where an encrypted stream's key is asked for


@dataclasses.dataclass(frozen=True, kw_only=True)
class Language:
    code: str | None
    name: str
    probability: float | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tile:
    """One storyboard tile: when it starts, its sprite sheet and its x,y,w,h in it."""

    start: float
    sprite: str
    xywh: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Chapters:
    """The chapters track, and the list that the page shows where there is more than one chapter."""

    vtt: str
    language: str  # the titles' language: the speech's, or undetermined without speech
    listed: list[Chapter]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Download:
    href: str
    label: str
    detail: str = ""
    size_bytes: int | None = None


def put(s3: Any, *, settings: Settings, folder: str, title: str, manifests: RunManifests,
        files: dict[str, str], said: dict[SubtitleTrack, list[Cue]]) -> list[str]:
    """Render and upload the page with its static files (and the player, for a stream); their keys."""
    uploaded = []
    stream = None
    if package := manifests.package:
        player = put_player(s3, settings)
        uploaded.append(player)
        stream = Stream(dash=STREAM + package.dash, hls=STREAM + package.hls, encrypted=package.encrypted,
                        key_id=package.key_id, player=templates.href(player, folder.rstrip("/")),
                        license_url=settings.license_url)
    # An encrypted video's page may also ask the license endpoint for its key.
    license_source = csp.source(settings.license_url, "VIDEO_PIPELINE_LICENSE_URL") if manifests.encrypted else ""
    context = {**_context(s3, title, manifests, files, said), "stream": stream,
               "csp": csp.policy(csp.SITE, license_source)}
    return [*uploaded, *templates.render(s3, templates.environment(), "video.html.j2", context, settings.bucket,
                                         folder + templates.PAGE, statics=STATICS)]


def put_player(s3: Any, settings: Settings) -> str:
    """The player script, once for the whole site, named by its content; its key."""
    body = PLAYER_JS.read_bytes()
    key = f"{settings.site_prefix}assets/shaka-player.{templates.content_hash(body)}.js"
    try:
        s3.head_object(Bucket=settings.bucket, Key=key)
    except s3.exceptions.ClientError:
        objects.put(s3, settings.bucket, key, body)
    return key


def _context(s3: Any, title: str, manifests: RunManifests, files: dict[str, str],
             said: dict[SubtitleTrack, list[Cue]]) -> dict[str, object]:
    """What video.html.j2 shows, but for the stream and the policy."""
    transcript, detect, previews, burn = manifests.transcript, manifests.detect, manifests.previews, manifests.burn
    speech = bool(transcript and transcript.speech)
    top = manifests.transcode.renditions[0]
    return {
        "title": title,
        "home": f"../../{templates.PAGE}",
        "video": Player(src=VIDEO if VIDEO in files else None, width=top.width, height=top.height,
                        burned=bool(burn and burn.subtitles_burned),
                        poster=previews.poster.file if previews else None),
        "probe": manifests.probe,
        "language": (Language(code=transcript.language, name=transcript.language_name,
                              probability=transcript.language_probability) if transcript and speech else None),
        "subtitles": list(said),
        # The speech's own cues: the lines a reviewer saw and the subtitles show, each one seeks the player.
        "transcript": next(iter(said.values()), []) if transcript else None,
        "no_speech_reason": transcript.no_speech_reason if transcript else None,
        # How many voices speak, where speakers were labelled; each cue of the speech names its own.
        "speakers": transcript.speakers if transcript and speech else None,
        "animals": detect.animals if detect else None,
        "unsure": UNSURE_ANIMAL,
        "on_screen": detect.on_screen if detect else [],
        "animal_seconds": detect.animal_seconds if detect else None,
        "gifs": previews.gifs if previews else [],
        "storyboard": storyboard(objects.read_text(s3, files[previews.storyboard.vtt])) if previews else [],
        "downloads": _downloads(manifests, files, list(said)),
        "chapters": _chapters(manifests),
    }


def _chapters(manifests: RunManifests) -> Chapters | None:
    """The chapters track; its list only with two chapters or more (one says nothing the player does not)."""
    if (made := manifests.chapters) is None:
        return None
    transcript = manifests.transcript
    language = transcript.language if transcript and any(c.spoken for c in made.chapters) else None
    return Chapters(vtt=made.vtt, language=language or UNDETERMINED_LANGUAGE,
                    listed=made.chapters if len(made.chapters) > 1 else [])


def _downloads(manifests: RunManifests, files: dict[str, str], tracks: list[SubtitleTrack]) -> list[Download]:
    transcode, burn = manifests.transcode, manifests.burn
    top = transcode.renditions[0]
    size = f"{top.width}×{top.height}"
    downloads = []
    if VIDEO in files:
        burned = bool(burn and burn.subtitles_burned)
        downloads.append(Download(href=VIDEO, label="Video, subtitles burned in" if burned else "Video",
                                  detail=size))
    if SOFT in files:
        downloads.append(Download(href=SOFT, label="Video, subtitles selectable in the player", detail=size))
    downloads += [Download(href=r.file, label=f"{r.name} rendition", detail=f"{r.width}×{r.height}",
                           size_bytes=r.size_bytes) for r in transcode.renditions if r.file in files]
    for track in tracks:
        name = track.name + (f", translated from {tracks[0].name}" if track.kind == "translation" else "")
        downloads += [Download(href=track.files.vtt, label=f"Subtitles, {name} (WebVTT)"),
                      Download(href=track.files.srt, label=f"Subtitles, {name} (SubRip)")]
    if transcript := manifests.transcript:
        downloads.append(Download(href=transcript.transcript, label="Transcript with word timings (JSON)"))
    if manifests.detect:
        downloads.append(Download(href=manifests.detect.DETECTIONS, label="Animal detections (JSON)"))
    if manifests.chapters:
        downloads.append(Download(href=manifests.chapters.vtt, label="Chapters (WebVTT)"))
    return downloads


def storyboard(vtt: str) -> list[Tile]:
    """The tiles of the storyboard's WebVTT thumbnails track, whose cue text is ``sprite#xywh=x,y,w,h``."""
    tiles = []
    for cue in webvtt.cues(vtt):
        target = cue.lines[0]
        if "#xywh=" in target:
            sprite, xywh = target.split("#xywh=", 1)
            tiles.append(Tile(start=cue.start, sprite=sprite, xywh=xywh))
    return tiles
