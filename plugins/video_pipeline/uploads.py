"""Browser uploads straight to S3: what may be uploaded, under which key, and a presigned POST for it.

The browser never gets credentials: it gets a POST policy for one key of its own under the incoming
prefix (a random folder, then the file's name), one content type, a size range and the file's name
as metadata, signed for minutes. S3 refuses anything else; the checks here say why before the browser
sends a byte. Two forms never share a key, so no upload replaces another, however often a form is
posted. The upload is an ordinary object in the incoming prefix, so the S3 event (or polling) starts
its run as for any other; its page is titled with the name it was uploaded with (``uploaded_name``).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, unquote

from video_pipeline import media_types
from video_pipeline.config import Settings
from video_pipeline.discovery import PIPELINE_DAG_ID, run_id
from video_pipeline.identity import video_id

PAGE_PREFIX = "/upload"  # where the api-server serves the upload page (video_pipeline_plugin.py)
UNSAFE = re.compile(r"[^\w .()+,=@-]+")  # what is kept of a file name in a key
MAX_NAME = 120
# The uploaded name as object metadata (x-amz-meta-*), percent-encoded: S3 metadata is ASCII only.
NAME_META = "original-name"
# The longest file name most file systems take, in UTF-8 bytes: percent-encoded at most 765 bytes,
# well inside S3's 2 KB of user metadata, so S3 never refuses an upload for its name.
NAME_BYTES = 255
ELLIPSIS = "…"


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
    taken = ", ".join(f".{e}" for e in sorted(settings.video_extensions))
    kind = media_types.guess(request.name)
    if suffix not in settings.video_extensions or kind is None:
        raise UploadRefused(f"{request.name} is not a video file this pipeline takes ({taken})", 415)
    if request.type and not request.type.startswith(("video/", "application/")):
        raise UploadRefused(f"{request.name} is {request.type}, not a video ({taken})", 415)
    return kind


def check_size(request: Request, settings: Settings) -> None:
    limit = settings.upload_max_bytes
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


def display_name(name: str) -> str:
    """The file's name as its uploader knows it, for its title: any run of white space one space, only
    printable characters (no control or bidi ones), at most 255 UTF-8 bytes. Shown as text, never a path."""
    kept = "".join(c for c in unicodedata.normalize("NFC", name) if c.isprintable() or c.isspace())
    text = " ".join(kept.split())
    if len(text.encode()) <= NAME_BYTES:
        return text
    cut = text.encode()[: NAME_BYTES - len(ELLIPSIS.encode())].decode(errors="ignore")
    return cut.rstrip() + ELLIPSIS


def uploaded_name(head: dict[str, Any]) -> str | None:
    """The name an object was uploaded with from the upload page (a HeadObject answer), cleaned again
    as it was before it was stored; None for objects put there otherwise (S3 events, the CLI)."""
    value = (head.get("Metadata") or {}).get(NAME_META)
    return (display_name(unquote(value)) or None) if value else None


def presigned_post(s3: Any, settings: Settings, request: Request) -> dict[str, Any]:
    """The form the browser posts the file with: URL, fields (policy, signature, key, type, name) and the key.

    The key is ``incoming/<uuid4 hex>/<safe name>``: a form's own, unguessable, so two uploads of one
    name are two videos; the name keeps the extension that discovery goes by.
    """
    kind = content_type(request, settings)
    check_size(request, settings)
    key = f"{settings.incoming_prefix}{uuid.uuid4().hex}/{safe_name(request.name)}"
    name = {f"x-amz-meta-{NAME_META}": quote(display_name(request.name), safe="")}
    post = s3.generate_presigned_post(
        Bucket=settings.bucket, Key=key, Fields={"Content-Type": kind, **name},
        Conditions=[{"Content-Type": kind}, name, ["content-length-range", 1, settings.upload_max_bytes]],
        ExpiresIn=settings.upload_url_ttl_s,
    )
    return {"url": post["url"], "fields": post["fields"], "key": key, "max_bytes": settings.upload_max_bytes}


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
