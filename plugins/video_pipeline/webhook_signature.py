"""The webhook signature: ``Video-Pipeline-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``, as Stripe and Mux sign.

The HMAC is over ``f"{t}.".encode() + body`` (the exact bytes sent) with the shared secret. The time is
signed with the body, so a receiver that refuses old times (TOLERANCE_S) refuses a replayed delivery too;
each attempt is signed anew. ``verify`` is what docs/notifications.md gives receivers to copy: the
standard library only.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Video-Pipeline-Signature"
SCHEME = "v1"
# How far a signed time may be from the receiver's clock: Stripe's default, room for clock skew and a slow
# network, short enough that a captured delivery cannot be replayed for long.
TOLERANCE_S = 300


class SignatureError(ValueError):
    """Why a delivery's signature does not verify; safe to answer the sender with."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if not secret:
        raise ValueError("no webhook secret to sign with")
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SCHEME}={digest}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = TOLERANCE_S) -> int:
    """The signed time; SignatureError unless ``header`` signs ``body`` with ``secret`` within the tolerance."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    times = [value for key, value in parts if key.strip() == "t"]
    signatures = [value.strip() for key, value in parts if key.strip() == SCHEME]
    if len(times) != 1 or not times[0].strip().isdigit() or not signatures:
        raise SignatureError("malformed signature header")
    timestamp = int(times[0])
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("signature timestamp outside the tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), signature.encode()) for signature in signatures):
        raise SignatureError("signature does not match")
    return timestamp
