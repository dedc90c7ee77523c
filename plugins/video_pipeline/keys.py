"""Per-video ClearKey keys for encrypted streams: made once, kept out of the public site.

One private object per key, ``{keys_prefix}<key id>.json``, named by the key id so
that a license endpoint, which players ask by key id, reads it directly. The key id
derives from the video id, so every run of a video (retries, reprocessing) finds the
same key, and the key id alone says nothing about the key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from botocore.exceptions import ClientError

from video_pipeline.config import Settings


def key_id(video_id: str) -> str:
    """32 hex digits (16 bytes, a CENC key id)."""
    return hashlib.sha256(f"clearkey:{video_id}".encode()).hexdigest()[:32]


def key_uri(settings: Settings, kid: str) -> str:
    return f"s3://{settings.bucket}/{settings.keys_prefix}{kid}.json"


def ensure_key(s3: Any, settings: Settings, video_id: str) -> str:
    """The URI of the video's key object, created with a random key the first time.

    The write is conditional (``If-None-Match: *``): of two runs of one video at once, only the first
    creates the key; the other's write is refused (412) and it packages with the key already there,
    so no run's segments end up under a key that was overwritten. S3 answers 409 while another
    conditional write of the key is in flight; that raises, and the task's retry then gets the 412.
    """
    kid = key_id(video_id)
    body = {"key_id": kid, "key": secrets.token_hex(16), "video_id": video_id}
    try:
        s3.put_object(Bucket=settings.bucket, Key=f"{settings.keys_prefix}{kid}.json", Body=json.dumps(body).encode(),
                      ContentType="application/json", ServerSideEncryption="AES256", IfNoneMatch="*")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise
    return key_uri(settings, kid)
