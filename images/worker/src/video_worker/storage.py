"""Stage inputs and outputs as URIs: ``s3://bucket/key`` or local paths.

Stages exchange data only through these URIs, never through a shared volume.
S3 goes through boto3, which honours ``AWS_ENDPOINT_URL`` (moto server locally).
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from video_worker.errors import InputError, SourceChanged, UsageError

log = logging.getLogger(__name__)

UPLOAD_THREADS = 8
# A pinned download streams one GET (If-Match is per request); 1 MiB writes keep memory flat.
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# A local file name stays under the file system's 255 bytes, with room for boto3's temporary suffix.
MAX_LOCAL_NAME_BYTES = 200

CONTENT_TYPES = {
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
}


def content_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def local_name(name: str) -> str:
    """A safe local file name for an object's name: S3 allows ``..`` and 1,024-byte keys, a disk does not.
    A name that cannot be used becomes ``source``, keeping a plain extension, which tools may read."""
    suffix = PurePosixPath(name).suffix if name not in ("", ".", "..") else ""
    if len(suffix.encode()) > 16 or not suffix[1:].isalnum():
        suffix = ""
    if name in ("", ".", "..") or len(name.encode()) > MAX_LOCAL_NAME_BYTES:
        return "source" + suffix
    return name


@dataclass(frozen=True)
class Location:
    """A file or prefix, on S3 or on the local disk."""

    uri: str

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        return self.uri[5:].split("/", 1)[0]

    @property
    def key(self) -> str:
        parts = self.uri[5:].split("/", 1)
        return parts[1] if len(parts) > 1 else ""

    @property
    def name(self) -> str:
        return PurePosixPath(self.key if self.is_s3 else self.uri).name

    def join(self, name: str) -> str:
        """The URI of ``name`` under this prefix."""
        if self.is_s3:
            prefix = self.key.rstrip("/")
            return f"s3://{self.bucket}/{prefix + '/' if prefix else ''}{name}"
        return str(Path(self.uri) / name)

    @cached_property
    def _s3(self) -> Any:  # a boto3 S3 client
        import boto3

        return boto3.client("s3")

    def download(self, workdir: Path, etag: str | None = None) -> Path:
        """A local copy of this file (the file itself when local).

        With ``etag``, exactly that version of the S3 object, or ``SourceChanged``: every stage of a
        run must read the file that probe checked, not one uploaded over it since.
        """
        if not self.is_s3:
            if etag:
                raise UsageError(f"--source-etag pins an S3 object; {self.uri} is a local path.")
            path = Path(self.uri)
            if not path.is_file():
                raise InputError(f"The source {self.uri} does not exist or is not a file.")
            return path
        from botocore.exceptions import ClientError

        target = workdir / "source" / local_name(self.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s%s to %s", self.uri, f" (ETag {etag})" if etag else "", target)
        try:
            if etag:
                self._get_version(target, etag)
            else:
                self._s3.download_file(self.bucket, self.key, str(target))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if etag and code in {"412", "PreconditionFailed", "404", "NoSuchKey"}:
                how = ("it was deleted after this run registered it" if code in {"404", "NoSuchKey"}
                       else "it is no longer the version this run registered")
                raise SourceChanged(f"The source {self.uri} changed during processing: {how} (ETag {etag}).") from exc
            if code in {"404", "NoSuchKey"}:
                raise InputError(f"The source {self.uri} does not exist.") from exc
            raise
        return target

    def _get_version(self, target: Path, etag: str) -> None:
        """Stream the object to ``target`` if it still has ``etag`` (S3 answers 412 if not).
        boto3's download_file takes no If-Match: its ranged parts would each need one."""
        body = self._s3.get_object(Bucket=self.bucket, Key=self.key, IfMatch=f'"{etag}"')["Body"]
        with body, target.open("wb") as file:
            shutil.copyfileobj(body, file, DOWNLOAD_CHUNK_BYTES)

    def upload(self, path: Path, name: str) -> str:
        """Put ``path`` under this prefix as ``name``; return its URI."""
        uri = self.join(name)
        if self.is_s3:
            dest = Location(uri)
            log.info("uploading %s to %s", path, uri)
            self._s3.upload_file(
                str(path), dest.bucket, dest.key, ExtraArgs={"ContentType": content_type(name)}
            )
        else:
            target = Path(uri)
            if target.resolve() != path.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        return uri

    def upload_tree(self, root: Path) -> dict[str, str]:
        """Upload every file under ``root`` in parallel; map relative path -> URI."""
        files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
        if self.is_s3:
            _ = self._s3  # create the client once, before threads share it
        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            uris = pool.map(lambda item: self.upload(item[1], item[0]), files.items())
            return dict(zip(files, uris))
