"""The last task of a DAG run: put a video's page and files on the site, then list it.

Everything the page links to is copied server-side from the work prefix into
``{site_prefix}videos/{video_id}/`` under fixed names, so a rerun overwrites the
same keys. The catalog item turns ``published`` only once every object is in
place, and the site index is rendered from the catalog after that.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import posixpath
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from boto3.s3.transfer import TransferConfig
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from video_pipeline import csp, media_types, search_index
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "include" / "templates"
# The adaptive player, from npm (package-lock.json), served from the site: no third-party CDN.
PLAYER_JS = ROOT / "node_modules" / "shaka-player" / "dist" / "shaka-player.compiled.js"
PAGE = "index.html"
VIDEO = "video.mp4"
SOFT = "soft.mp4"
STREAM = "stream/"  # HLS and DASH, as the package stage laid them out

# Asset names change with the video id (a new upload is a new id) or carry ?v=<hash>,
# so they can be cached for a year; pages change with every publish.
ASSET_CACHE = "public, max-age=31536000"
PAGE_CACHE = "public, max-age=60"
# One CopyObject per file up to its 5 GiB limit; bigger files (a long 1080p rendition) go in parts.
COPY_CONFIG = TransferConfig(multipart_threshold=5 * 1024**3, multipart_chunksize=512 * 1024**2)
COPY_THREADS = 8
# What an encrypted video keeps off the site: its key opens only the stream, so its transcript, subtitles,
# detections, thumbnails and previews would show what the key protects. They stay in the work prefix.
PRIVATE_STAGES = ("transcribe", "detect", "previews", "burn")


class Superseded(Exception):
    """A newer run of the same video owns its item: this run's results are not published."""


def publish(*, s3: Any, catalog: VideoCatalog, settings: Settings, video: dict[str, Any],
            manifests: dict[str, dict[str, Any] | None], run_id: str,
            caption_review: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy the files, render the page, mark the video published, regenerate the site index.

    Only the run that owns the item (the last one that registered the video) publishes: two runs of
    one video at once end with one published result, the newer run's, and an item that is whole.
    """
    video_id = video["video_id"]
    _check_owner(catalog, video_id, run_id)
    folder = f"{settings.site_prefix}videos/{video_id}/"
    title = video.get("name") or _title(video["key"], settings.incoming_prefix)  # the upload page's name
    env = _environment()
    manifests = _shown(manifests)
    files = _files(manifests)
    previous = _read_json(s3, settings.bucket, folder + search_index.DOC) or {}

    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        list(pool.map(lambda item: _copy(s3, item[1], settings.bucket, folder + item[0]), files.items()))
    context = _page_context(s3, title, manifests, files)
    uploaded = [folder + name for name in files]
    if context["stream"]:
        player_key = _put_player(s3, settings)
        uploaded.append(player_key)
        context["stream"]["player"] = _href(player_key, folder.rstrip("/"))
        context["stream"]["license_url"] = settings.license_url
    # An encrypted video's page may also ask the license endpoint for its key.
    license_source = csp.source(settings.license_url, "VIDEO_PIPELINE_LICENSE_URL") if _protected(manifests) else ""
    context["csp"] = csp.policy(csp.SITE, license_source)
    uploaded += _render(s3, env, "video.html.j2", context, settings.bucket, folder + PAGE,
                        statics=("style.css", "player.js", "favicon.svg"))
    cues = _search_cues(s3, manifests, files)
    uploaded.append(_put(s3, settings.bucket, folder + search_index.DOC, search_index.dumps(
        {"cues": cues, "shards": sorted(search_index.postings(video_id, cues))}), mutable=True))
    _remove_stale(s3, settings.bucket, folder, set(uploaded))

    item = {**_item(settings, video, title, manifests, folder, run_id), "caption_review": caption_review}
    try:
        catalog.set_status(video_id, "published", owner_run=run_id, **item)
    except catalog.table.meta.client.exceptions.ConditionalCheckFailedException:
        _check_owner(catalog, video_id, run_id)  # says which run took over while the files were copied
        raise
    uploaded += _put_index(s3, env, catalog, settings, video_id)
    uploaded += _put_search(s3, settings, catalog.get(video_id), folder, cues, previous.get("shards", []))
    log.info("published %s (%s): %d objects, page %s", video_id, title, len(uploaded), item["page_key"])
    return {
        "page_url": item["page_url"],
        "page_key": item["page_key"],
        "video_url": item["video_url"],
        "video_key": item["video_key"],
        "site_prefix": folder,
        "uploaded": uploaded,
    }


def _check_owner(catalog: VideoCatalog, video_id: str, run_id: str) -> None:
    owner = (catalog.get(video_id) or {}).get("dag_run_id")
    if owner not in (None, run_id):
        raise Superseded(f"video {video_id} is now run {owner}'s, not this run's ({run_id}): "
                         "that run publishes it")


def _files(manifests: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """Name in the video's folder -> work URI of every file the page links to.

    Names are the worker's own, except that the video played on the page is
    ``video.mp4``: burned subtitles when burn ran, else the top rendition.
    """
    transcode, burn, package = manifests["transcode"], manifests.get("burn"), manifests.get("package")
    picks = []
    if not _protected(manifests):  # an encrypted video is only published encrypted
        picks = [(burn, burn["burned"], VIDEO) if burn else (transcode, transcode["top"], VIDEO)]
        if burn and burn["subtitles_burned"]:
            picks.append((burn, burn["soft"], SOFT))
        picks += [(transcode, r["file"], r["file"]) for r in transcode["renditions"]]
    if transcribe := manifests.get("transcribe"):
        subtitles = [track[fmt] for track in _subtitle_tracks(transcribe) for fmt in ("vtt", "srt")]
        picks += [(transcribe, name, name) for name in (transcribe["transcript"], *subtitles)]
    if detect := manifests.get("detect"):
        names = ["detections.json", *(a["thumbnail"] for a in detect["animals"])]
        picks += [(detect, name, name) for name in names]
    if package:
        picks += [(package, name, STREAM + name) for name in package["artifacts"] if name != "manifest.json"]
    if previews := manifests.get("previews"):
        board = previews["storyboard"]
        names = [previews["poster"]["file"], *(gif["file"] for gif in previews["gifs"]), *board["sprites"],
                 board["vtt"]]
        picks += [(previews, name, name) for name in names]
    return {dest: manifest["artifacts"][name] for manifest, name, dest in picks}


def _subtitle_tracks(transcribe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The subtitle tracks, the speech's own first, then its English translation if there is one."""
    if not (transcribe and transcribe["speech"]):
        return []
    tracks = [{"language": transcribe["language"] or "und", "name": transcribe["language_name"], "kind": "transcript",
               **transcribe["subtitles"]}]
    if translation := transcribe.get("translation"):
        tracks.append({"language": translation["language"], "name": translation["name"], "kind": "translation",
                       "from": translation["from"], **translation["subtitles"]})
    return tracks


def _protected(manifests: dict[str, dict[str, Any] | None]) -> bool:
    return bool((manifests.get("package") or {}).get("encrypted"))


def _shown(manifests: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any] | None]:
    """The stages whose files and words go on the site (and in the item): all of them, but for an
    encrypted video only probe, transcode and package: its page shows the stream and nothing else."""
    return {**manifests, **dict.fromkeys(PRIVATE_STAGES)} if _protected(manifests) else manifests


def _put_player(s3: Any, settings: Settings) -> str:
    """The player script, once for the whole site, named by its content."""
    body = PLAYER_JS.read_bytes()
    key = f"{settings.site_prefix}assets/shaka-player.{hashlib.sha256(body).hexdigest()[:12]}.js"
    try:
        s3.head_object(Bucket=settings.bucket, Key=key)
    except s3.exceptions.ClientError:
        _put(s3, settings.bucket, key, body)
    return key


def _headers(name: str, mutable: bool = False) -> dict[str, str]:
    """Content type and caching; pages and what changes in place under a fixed name (``mutable``) are
    cached briefly, everything else for a year."""
    kind = media_types.guess(name) or "application/octet-stream"
    if (kind.startswith("text/") or kind == "application/x-subrip") and "charset" not in kind:
        kind += "; charset=utf-8"
    return {"ContentType": kind, "CacheControl": PAGE_CACHE if mutable or name.endswith(".html") else ASSET_CACHE}


def _copy(s3: Any, uri: str, bucket: str, key: str) -> None:
    """Server-side copy with the site's headers, whatever the worker stored."""
    source_bucket, source_key = S3Hook.parse_s3_url(uri)
    log.info("copying %s to s3://%s/%s", uri, bucket, key)
    s3.copy({"Bucket": source_bucket, "Key": source_key}, bucket, key,
            ExtraArgs={"MetadataDirective": "REPLACE", **_headers(key)}, Config=COPY_CONFIG)


def _put(s3: Any, bucket: str, key: str, body: bytes, mutable: bool = False) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body, **_headers(key, mutable))
    return key


def _read(s3: Any, uri: str) -> str:
    source_bucket, source_key = S3Hook.parse_s3_url(uri)
    return s3.get_object(Bucket=source_bucket, Key=source_key)["Body"].read().decode("utf-8")


def _read_json(s3: Any, bucket: str, key: str) -> Any:
    """The object's JSON, or None when there is no such object."""
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _search_cues(s3: Any, manifests: dict[str, dict[str, Any] | None], files: dict[str, str]) -> list[list]:
    """[start, text] of every subtitle cue, the transcript's then its translation's: what search finds."""
    return [[start, " ".join(lines)] for track in _subtitle_tracks(manifests.get("transcribe"))
            for start, _, lines in _vtt_cues(_read(s3, files[track["vtt"]]))]


def _put_search(s3: Any, settings: Settings, item: dict[str, Any], folder: str, cues: list[list],
                previous_shards: list[str]) -> list[str]:
    """This video's words into the search shards (its earlier ones out first), and its entry into the index.

    Returns the keys of this video's shards and of the index: the same on a republish of the same video.
    """
    root = settings.site_prefix
    video_id = item["video_id"]
    new = search_index.postings(video_id, cues)

    def update(name: str) -> str | None:
        key = f"{root}{search_index.SHARDS}{name}.json"
        current = _read_json(s3, settings.bucket, key) or {}
        shard = search_index.merged(current, video_id, new.get(name, {}))
        if not shard:
            s3.delete_object(Bucket=settings.bucket, Key=key)
            return None
        if shard != current:
            _put(s3, settings.bucket, key, search_index.dumps(shard), mutable=True)
        return key if name in new else None  # this video's shards, whether or not they changed

    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        written = [key for key in pool.map(update, sorted(set(new) | set(previous_shards))) if key]
    index_key = root + search_index.INDEX
    index = _read_json(s3, settings.bucket, index_key) or {"videos": {}}
    index["videos"][video_id] = _entry(settings, item)
    return [*written, _put(s3, settings.bucket, index_key, search_index.dumps(index), mutable=True)]


def _remove_stale(s3: Any, bucket: str, folder: str, keep: set[str]) -> None:
    """Drop what an earlier publish of this video left that this one no longer links to."""
    stale = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
             for obj in page.get("Contents", []) if obj["Key"] not in keep]
    for start in range(0, len(stale), 1000):  # DeleteObjects takes at most 1000 keys
        batch = stale[start:start + 1000]
        log.info("removing %d stale objects under %s", len(batch), folder)
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch]})


def _environment() -> Environment:
    """Autoescaping: titles, transcripts and labels are untrusted text."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(clock=clock, seek=seek)
    return env


def _render(s3: Any, env: Environment, template: str, context: dict[str, Any],
            bucket: str, page_key: str, *, statics: tuple[str, ...]) -> list[str]:
    """Upload the page and the static files it uses, next to it; their URLs change with their content."""
    folder = posixpath.dirname(page_key)
    files = {name: (TEMPLATES / name).read_bytes() for name in statics}
    assets = {name: f"{name}?v={hashlib.sha256(body).hexdigest()[:12]}" for name, body in files.items()}
    html = env.get_template(template).render(**context, assets=assets)
    keys = [_put(s3, bucket, posixpath.join(folder, name), body) for name, body in files.items()]
    return [*keys, _put(s3, bucket, page_key, html.encode("utf-8"))]


def _put_index(s3: Any, env: Environment, catalog: VideoCatalog, settings: Settings, video_id: str) -> list[str]:
    """The site index from the catalog, with this video's item read back consistently.

    A DynamoDB scan may not see a write made a moment ago, so the fresh item replaces its scanned
    copy; it goes first so that it also wins a tie on the second it was published.
    """
    others = [item for item in catalog.published() if item["video_id"] != video_id and item.get("page_key")]
    items = sorted([catalog.get(video_id), *others], key=lambda i: i.get("published_at", ""), reverse=True)
    videos = [_entry(settings, item) for item in items]
    context = {"videos": videos, "search": search_index.INDEX, "csp": csp.policy(csp.SITE)}
    return _render(s3, env, "index.html.j2", context, settings.bucket, settings.site_prefix + PAGE,
                   statics=("style.css", "favicon.svg", "search.js"))


def _entry(settings: Settings, item: dict[str, Any]) -> dict[str, Any]:
    """A published video as the site index and the search index show it, URLs relative to the site."""
    root = settings.site_prefix.rstrip("/") or "."
    poster = _href(item["poster_key"], root) if item.get("poster_key") else None
    return search_index.entry(item, _href(item["page_key"], root), poster)


def _page_context(s3: Any, title: str, manifests: dict[str, dict[str, Any] | None],
                  files: dict[str, str]) -> dict[str, Any]:
    """What video.html.j2 shows. The page sits next to its files, so names are its relative URLs."""
    probe, transcode, burn = manifests["probe"], manifests["transcode"], manifests.get("burn")
    transcribe, detect, previews, package = (manifests.get(stage)
                                             for stage in ("transcribe", "detect", "previews", "package"))
    burned = bool(burn and burn["subtitles_burned"])
    speech = bool(transcribe and transcribe["speech"])
    tracks = _subtitle_tracks(transcribe)
    top = transcode["renditions"][0]
    size = f"{top['width']}×{top['height']}"
    downloads = []
    if VIDEO in files:
        downloads.append(_download(VIDEO, "Video, subtitles burned in" if burned else "Video", size))
    if SOFT in files:
        downloads.append(_download(SOFT, "Video, subtitles selectable in the player", size))
    downloads += [_download(r["file"], f"{r['name']} rendition", f"{r['width']}×{r['height']}", r["size_bytes"])
                  for r in transcode["renditions"] if r["file"] in files]
    for track in tracks:
        name = track["name"]
        if track["kind"] == "translation":
            name += f", translated from {tracks[0]['name']}"
        downloads += [_download(track["vtt"], f"Subtitles, {name} (WebVTT)"),
                      _download(track["srt"], f"Subtitles, {name} (SubRip)")]
    if transcribe:
        downloads.append(_download(transcribe["transcript"], "Transcript with word timings (JSON)"))
    if detect:
        downloads.append(_download("detections.json", "Animal detections (JSON)"))
    return {
        "title": title,
        "home": f"../../{PAGE}",
        "video": {"src": VIDEO if VIDEO in files else None, "width": top["width"], "height": top["height"],
                  "burned": burned,
                  "poster": previews["poster"]["file"] if previews else None},
        "probe": probe,
        "language": ({"code": transcribe["language"], "name": transcribe["language_name"],
                      "probability": transcribe["language_probability"]} if speech else None),
        "subtitles": tracks,
        "transcript": (json.loads(_read(s3, files[transcribe["transcript"]]))["segments"]
                       if transcribe else None),
        "no_speech_reason": transcribe["no_speech_reason"] if transcribe else None,
        "animals": detect["animals"] if detect else None,
        "on_screen": detect["on_screen"] if detect else [],
        "animal_seconds": detect["animal_seconds"] if detect else None,
        "gifs": previews["gifs"] if previews else [],
        "storyboard": (_storyboard_tiles(_read(s3, files[previews["storyboard"]["vtt"]]))
                       if previews else []),
        "downloads": downloads,
        "stream": {"dash": STREAM + package["dash"], "hls": STREAM + package["hls"],
                   "encrypted": package["encrypted"], "key_id": package["key_id"]} if package else None,
    }


def _item(settings: Settings, video: dict[str, Any], title: str,
          manifests: dict[str, dict[str, Any] | None], folder: str, run_id: str) -> dict[str, Any]:
    """The catalog fields of a published video; None removes a field an earlier publish set.

    The language only comes with speech: Whisper names one even for music or silence.
    """
    probe, transcode = manifests["probe"], manifests["transcode"]
    transcribe, detect, previews, package = (manifests.get(stage)
                                             for stage in ("transcribe", "detect", "previews", "package"))
    speech = bool(transcribe and transcribe["speech"])
    page_key = folder + PAGE
    video_key = folder + (STREAM + package["hls"] if _protected(manifests) else VIDEO)
    return {
        "source_bucket": video["bucket"],
        "source_key": video["key"],
        "source_etag": video["etag"],
        "title": title,
        "duration_s": probe["duration_s"],
        "width": probe["width"],
        "height": probe["height"],
        "language": transcribe["language"] if speech else None,
        "language_name": transcribe["language_name"] if speech else None,
        "language_probability": transcribe["language_probability"] if speech else None,
        "renditions": [{"name": r["name"], "key": folder + r["file"], "width": r["width"],
                        "height": r["height"]} for r in transcode["renditions"]],
        "subtitles": [{**track, "vtt": folder + track["vtt"], "srt": folder + track["srt"]}
                      for track in _subtitle_tracks(transcribe)] or None,
        "subtitle_languages": [track["language"] for track in _subtitle_tracks(transcribe)] or None,
        "animals": [{"label": a["label"], "first_s": a["first_s"], "last_s": a["last_s"],
                     "frames_seen": a["frames_seen"], "peak_confidence": a["peak_confidence"],
                     "thumbnail_key": folder + a["thumbnail"]}
                    for a in detect["animals"]] if detect else None,
        "animal_seconds": detect["animal_seconds"] if detect else None,
        "animal_on_screen": detect["on_screen"] if detect else None,
        "poster_key": folder + previews["poster"]["file"] if previews else None,
        "stream": {"hls_url": settings.site_url(folder + STREAM + package["hls"]),
                   "dash_url": settings.site_url(folder + STREAM + package["dash"]),
                   "encrypted": package["encrypted"], "key_id": package["key_id"]} if package else None,
        "page_key": page_key,
        "page_url": settings.site_url(page_key),
        "video_key": video_key,
        "video_url": settings.site_url(video_key),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dag_run_id": run_id,
    }


def _download(href: str, label: str, detail: str = "", size_bytes: int | None = None) -> dict[str, Any]:
    return {"href": href, "label": label, "detail": detail, "size_bytes": size_bytes}


def _title(key: str, incoming_prefix: str) -> str:
    """The title of a video uploaded other than by the upload page (an S3 event's, the CLI's), which
    carries no name of its own: the key below the incoming prefix, else its last part.

    Not only the last part under the prefix: a name may hold a slash (``a </b> c.mp4``).
    """
    if incoming_prefix and key.startswith(incoming_prefix) and key != incoming_prefix:
        return key[len(incoming_prefix):]
    return PurePosixPath(key).name or key


def _href(key: str, start: str) -> str:
    return quote(posixpath.relpath(key, start))


def _vtt_cues(vtt: str) -> list[tuple[float, float, list[str]]]:
    """(start, end, text lines) of each WebVTT cue; the worker escapes the text, so it is unescaped here."""
    cues = []
    for block in vtt.replace("\r\n", "\n").split("\n\n"):
        lines = block.strip().splitlines()
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is not None and len(lines) > timing + 1:
            start, end = lines[timing].split("-->")
            cues.append((_vtt_seconds(start), _vtt_seconds(end.split()[0]),
                         [html.unescape(line) for line in lines[timing + 1:]]))
    return cues


def _storyboard_tiles(vtt: str) -> list[dict[str, Any]]:
    """The cues of a WebVTT thumbnails track: start second, sprite sheet and the tile's x,y,w,h."""
    tiles = []
    for start, _, (target, *_) in _vtt_cues(vtt):
        if "#xywh=" in target:
            sprite, xywh = target.split("#xywh=", 1)
            tiles.append({"start": start, "sprite": sprite, "xywh": xywh})
    return tiles


def _vtt_seconds(stamp: str) -> float:
    """``01:02:03.500`` or ``02:03.500`` in seconds."""
    seconds = 0.0
    for part in stamp.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def clock(seconds: float) -> str:
    """Seconds as players show them: ``0:07``, ``12:03``, ``1:02:03``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def seek(seconds: float) -> str:
    """A ``data-seek`` value: millisecond precision, no trailing zeros (``12.5``)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
