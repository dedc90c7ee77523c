"""How an object goes on the site: put, copied server-side from the work prefix, read, or removed.

Every publishing module writes through here, so one name always gets the same content type and
caching, however it got there.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from boto3.s3.transfer import TransferConfig

from video_pipeline import media_types

log = logging.getLogger(__name__)

# Asset names change with the video id (a new upload is a new id) or carry ?v=<hash>,
# so they can be cached for a year; pages change with every publish.
ASSET_CACHE = "public, max-age=31536000"
PAGE_CACHE = "public, max-age=60"
# One CopyObject per file up to its 5 GiB limit; bigger files (a long 1080p rendition) go in parts.
COPY_LIMIT = 5 * 1024**3
COPY_CONFIG = TransferConfig(multipart_threshold=COPY_LIMIT, multipart_chunksize=512 * 1024**2)
THREADS = 8  # concurrent copies and shard updates: each is one S3 round trip or a server-side copy
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


def headers(name: str, *, mutable: bool = False) -> dict[str, str]:
    """Content type and caching; pages and what changes in place under a fixed name (``mutable``) are
    cached briefly, everything else for a year."""
    kind = media_types.guess(name) or "application/octet-stream"
    if (kind.startswith("text/") or kind == "application/x-subrip") and "charset" not in kind:
        kind += "; charset=utf-8"
    return {"ContentType": kind, "CacheControl": PAGE_CACHE if mutable or name.endswith(".html") else ASSET_CACHE}


def put(s3: Any, bucket: str, key: str, body: bytes, *, mutable: bool = False) -> str:
    """Upload ``body`` with the site's headers; its key."""
    s3.put_object(Bucket=bucket, Key=key, Body=body, **headers(key, mutable=mutable))
    return key


def sizes(s3: Any, prefix_uri: str) -> dict[str, int]:
    """URI -> bytes of every object under the prefix: a listing, one request per 1000 objects."""
    bucket, prefix = S3Hook.parse_s3_url(prefix_uri)
    return {f"s3://{bucket}/{obj['Key']}": obj["Size"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])}


def copy(s3: Any, uri: str, bucket: str, key: str, size: int | None) -> None:
    """Server-side copy with the site's headers, whatever the worker stored: one CopyObject when ``size``
    (from a listing) is within its limit, else the managed copy, which asks S3 the size (a HEAD) and
    copies in parts above the limit."""
    source_bucket, source_key = S3Hook.parse_s3_url(uri)
    source, extra = {"Bucket": source_bucket, "Key": source_key}, {"MetadataDirective": "REPLACE", **headers(key)}
    log.info("copying %s to s3://%s/%s", uri, bucket, key)
    if size is not None and size <= COPY_LIMIT:
        s3.copy_object(CopySource=source, Bucket=bucket, Key=key, **extra)
    else:
        s3.copy(source, bucket, key, ExtraArgs=extra, Config=COPY_CONFIG)


def read_text(s3: Any, uri: str) -> str:
    source_bucket, source_key = S3Hook.parse_s3_url(uri)
    body: bytes = s3.get_object(Bucket=source_bucket, Key=source_key)["Body"].read()
    return body.decode("utf-8")


def read_json(s3: Any, bucket: str, key: str) -> Any:
    """The object's JSON, or None when there is no such object."""
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def remove_stale(s3: Any, bucket: str, folder: str, keep: set[str]) -> None:
    """Drop what an earlier publish left under ``folder`` that this one no longer links to."""
    stale = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
             for obj in page.get("Contents", []) if obj["Key"] not in keep]
    for start in range(0, len(stale), DELETE_BATCH):
        batch = stale[start:start + DELETE_BATCH]
        log.info("removing %d stale objects under %s", len(batch), folder)
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch]})
