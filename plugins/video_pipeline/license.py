"""ClearKey license endpoint: a player with a playback token sends key ids and gets the keys as JWK.

The keys live in private objects (keys.py) and this is their only way out. Key ids are public
(they are in the MPD), so a key goes only to a request whose ``Authorization: Bearer`` token
(tokens.py) is valid for that key; without ``VIDEO_PIPELINE_LICENSE_SECRET`` every request is
refused. The token comes in that header only, never in a URL (the page takes it from its own
address's fragment, player.js), so no access log holds it. ``make up`` runs it locally; in production
run it as a container (or behind API Gateway) and set ``VIDEO_PIPELINE_LICENSE_URL`` to its address::

    PYTHONPATH=plugins python -m video_pipeline.license serve --port 5001
    PYTHONPATH=plugins python -m video_pipeline.license token --video <video id> --ttl 3600

The request and response are the W3C Encrypted Media Extensions' ClearKey formats:
``{"kids": [<base64url key id>], "type": "temporary"}`` in, a JWK set out.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from video_pipeline.config import Settings
from video_pipeline.keys import key_id
from video_pipeline.tokens import TokenError, b64url, mint, unb64url, verify

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # a ClearKey request names a few key ids; anything bigger is not one
# Key ids one request may name. A video here has one key (keys.py) and a player asks for the key ids of
# one stream's init data; 8 leaves room for multi-key streams. Each distinct key id costs an S3 read.
MAX_KIDS = 8
NO_STORE = {"Cache-Control": "no-store"}  # keys and refusals are per request, never cached


class _TooLarge(Exception):
    pass


def parse(body: bytes) -> tuple[list[str], str]:
    """The distinct key ids (hex) and session type of a ClearKey license request, at most MAX_KIDS of them."""
    request = json.loads(body)
    if not isinstance(request, dict) or not request.get("kids"):
        raise ValueError("no kids")
    if len(request["kids"]) > MAX_KIDS:
        raise ValueError(f"at most {MAX_KIDS} key ids in a request, not {len(request['kids'])}")
    return list(dict.fromkeys(unb64url(kid).hex() for kid in request["kids"])), request.get("type", "temporary")


def respond(kids: list[str], session_type: str, lookup: Callable[[str], str | None]) -> dict[str, Any]:
    """The JWK set for the key ids that ``lookup`` (key id hex -> key hex) knows."""
    keys = [{"kty": "oct", "kid": b64url(bytes.fromhex(kid)), "k": b64url(bytes.fromhex(key))}
            for kid in kids if (key := lookup(kid))]
    return {"keys": keys, "type": session_type}


def s3_lookup(s3: Any, settings: Settings) -> Callable[[str], str | None]:
    """Key id -> key from the private key objects."""

    def lookup(kid: str) -> str | None:
        if len(kid) != 32:
            return None
        try:
            body = s3.get_object(Bucket=settings.bucket, Key=f"{settings.keys_prefix}{kid}.json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        key: str = json.loads(body)["key"]
        return key

    return lookup


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=NO_STORE)


async def _body(request: Request) -> bytes:
    """The request body, read no further than MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge
    return bytes(body)


def app(lookup: Callable[[str], str | None], secret: str, origins: Sequence[str] = ("*",)) -> Starlette:
    """The endpoint: POST /clearkey. CORS lets pages on ``origins`` ask; the token decides."""

    async def clearkey(request: Request) -> JSONResponse:
        if not secret:
            return _refuse(503, "no license secret is configured (VIDEO_PIPELINE_LICENSE_SECRET): no keys")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _refuse(403, "no playback token (Authorization: Bearer <token>)")
        try:
            kids, session_type = parse(await _body(request))
        except _TooLarge:
            return _refuse(413, f"a license request is at most {MAX_BODY} bytes")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _refuse(400, f"not a ClearKey license request: {exc}")
        try:
            for kid in kids:
                verify(secret, token, kid, time.time())
        except TokenError as exc:
            return _refuse(403, str(exc))
        answer = await run_in_threadpool(respond, kids, session_type, lookup)
        return JSONResponse(answer, status_code=200 if answer["keys"] else 404, headers=NO_STORE)

    cors = Middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["POST"],
                      allow_headers=["Authorization", "Content-Type"], max_age=600)
    return Starlette(routes=[Route("/clearkey", clearkey, methods=["POST"])], middleware=[cors])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve licenses, keys read from the bucket")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.add_argument("--allow-origin", action="append", dest="origins",
                       help="an origin whose pages may ask (repeatable; default: any, as the token is the gate)")
    token = commands.add_parser("token", help="print a playback token for one video")
    token.add_argument("--video", required=True, help="the video id")
    token.add_argument("--ttl", type=int, help="seconds it stays valid (default VIDEO_PIPELINE_LICENSE_TOKEN_TTL_S)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "token":
        if not settings.license_secret:
            sys.exit("VIDEO_PIPELINE_LICENSE_SECRET is not set: there is no secret to sign the token with")
        ttl = args.ttl if args.ttl is not None else settings.license_token_ttl_s
        print(mint(settings.license_secret, key_id(args.video), ttl, time.time()))
        return

    import boto3
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not settings.license_secret:
        log.warning("VIDEO_PIPELINE_LICENSE_SECRET is not set: every license request will be refused")
    log.info("ClearKey licenses on http://%s:%d/clearkey", args.host, args.port)
    uvicorn.run(app(s3_lookup(boto3.client("s3"), settings), settings.license_secret, args.origins or ["*"]),
                host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
