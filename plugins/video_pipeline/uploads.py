"""Browser uploads straight to S3: what may be uploaded, under which key, and a presigned POST for it.

The browser never gets credentials: it gets a POST policy for one key under the incoming prefix,
one content type and a size range, signed for an hour. S3 refuses anything else; the checks here
say why before the browser sends a byte. The upload is an ordinary object in the incoming prefix,
so the S3 event (or polling) starts its run as for any other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from video_pipeline import media_types
from video_pipeline.config import Settings
from video_pipeline.discovery import PIPELINE_DAG_ID, run_id
from video_pipeline.identity import video_id

UNSAFE = re.compile(r"[^\w .()+,=@-]+")  # what is kept of a file name in a key
MAX_NAME = 120


class UploadRefused(Exception):
    """An upload this deployment does not take; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """What the browser says of the file it is about to upload."""

    name: str
    size: int
    type: str = ""


def size_text(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def content_type(request: Request, settings: Settings) -> str:
    """The type the upload is stored with, from its name's extension; UploadRefused if it is no video."""
    suffix = PurePosixPath(request.name).suffix.lower().lstrip(".")
    taken = ", ".join(f".{e}" for e in sorted(settings.extensions))
    kind = media_types.guess(request.name)
    if suffix not in settings.extensions or kind is None:
        raise UploadRefused(f"{request.name} is not a video file this pipeline takes ({taken})", 415)
    if request.type and not request.type.startswith(("video/", "application/")):
        raise UploadRefused(f"{request.name} is {request.type}, not a video ({taken})", 415)
    return kind


def check_size(request: Request, settings: Settings) -> None:
    limit = int(settings.upload_max_bytes)
    if request.size <= 0:
        raise UploadRefused(f"{request.name} is empty", 400)
    if request.size > limit:
        raise UploadRefused(f"{request.name} is {size_text(request.size)}; uploads are limited to "
                            f"{size_text(limit)}", 413)


def safe_name(name: str) -> str:
    """The file's own name, kept readable: no path, no control or odd characters, at most 120 characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem, suffix = PurePosixPath(base).stem, PurePosixPath(base).suffix.lower()
    stem = UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip(" ._") or "video"
    return stem[: MAX_NAME - len(suffix)] + suffix


def free_key(s3: Any, settings: Settings, name: str) -> str:
    """``incoming/<name>``, or ``incoming/<stem> (2).<ext>``... when that key is taken, as browsers name
    downloads: an upload never replaces another video."""
    path = PurePosixPath(safe_name(name))
    for n in range(1, 1000):
        candidate = f"{settings.incoming_prefix}{path.stem}{f' ({n})' if n > 1 else ''}{path.suffix}"
        try:
            s3.head_object(Bucket=settings.bucket, Key=candidate)
        except s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return candidate
            raise
    raise UploadRefused(f"too many uploads are named {name}", 409)


def presigned_post(s3: Any, settings: Settings, request: Request) -> dict[str, Any]:
    """The form the browser posts the file with: URL, fields (policy, signature, key, type) and the key."""
    kind = content_type(request, settings)
    check_size(request, settings)
    key = free_key(s3, settings, request.name)
    post = s3.generate_presigned_post(
        Bucket=settings.bucket, Key=key, Fields={"Content-Type": kind},
        Conditions=[{"Content-Type": kind}, ["content-length-range", 1, int(settings.upload_max_bytes)]],
        ExpiresIn=int(settings.upload_url_ttl_s),
    )
    return {"url": post["url"], "fields": post["fields"], "key": key, "max_bytes": int(settings.upload_max_bytes)}


def status(s3: Any, settings: Settings, catalog: Any, key: str) -> dict[str, Any]:
    """Where an upload is: not there yet, or its video id, the run that processes it and its item."""
    if not key.startswith(settings.incoming_prefix):
        raise UploadRefused(f"{key} is not an upload", 404)
    try:
        head = s3.head_object(Bucket=settings.bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return {"key": key, "uploaded": False}
        raise
    vid = video_id(settings.bucket, key, head["ETag"].strip('"'))
    item = catalog.get(vid) or {}
    return {
        "key": key,
        "uploaded": True,
        "video_id": vid,
        "dag_id": PIPELINE_DAG_ID,
        "run_id": run_id("video", vid),
        "item": {name: item.get(name) for name in ("status", "stage", "failure_reason", "page_url", "title")},
    }
