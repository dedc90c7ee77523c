"""A video's identity: the same S3 object always gets the same id; a replaced object a new one."""

from __future__ import annotations

import hashlib


def video_id(bucket: str, key: str, etag: str) -> str:
    """16 hex characters of sha256 over bucket, key and ETag (quotes stripped)."""
    return hashlib.sha256(f"{bucket}/{key}/{etag.strip(chr(34))}".encode()).hexdigest()[:16]
