"""Playback tokens: whoever holds one may fetch one video's key until it expires.

The key id is public (it is in the MPD), so the license endpoint needs more than a key id
before it gives a key. A token is ``<payload>.<signature>``, both base64url: the payload is
``{"kid": <key id hex>, "exp": <unix time>}``, the signature its HMAC-SHA256 under the
license secret. Whoever mints tokens (your site's login, or ``python -m video_pipeline.license
token``) and the endpoint share that secret; nobody else can make or change one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json


class TokenError(ValueError):
    """Why a token does not open a key; safe to tell the client."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return b64url(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def mint(secret: str, kid: str, ttl_s: int, now: float) -> str:
    """A token for the key ``kid`` (32 hex digits), valid for ``ttl_s`` seconds from ``now``."""
    if not secret:
        raise ValueError("no license secret to sign with")
    payload = b64url(json.dumps({"kid": kid, "exp": int(now) + int(ttl_s)}, separators=(",", ":")).encode())
    return f"{payload}.{_sign(secret, payload)}"


def verify(secret: str, token: str, kid: str, now: float) -> None:
    """Raise TokenError unless ``token`` is signed with ``secret``, unexpired and for the key ``kid``."""
    if not secret:
        raise TokenError("the license endpoint has no secret configured")
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise TokenError("malformed token")
    if not hmac.compare_digest(signature.encode(), _sign(secret, payload).encode()):
        raise TokenError("bad token signature")
    try:
        claims = json.loads(unb64url(payload))
        expires, token_kid = int(claims["exp"]), str(claims["kid"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed token") from exc
    if now >= expires:
        raise TokenError("token expired")
    if token_kid != kid:
        raise TokenError("token is for another video")
