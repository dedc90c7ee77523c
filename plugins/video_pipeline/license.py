"""ClearKey license endpoint: a player sends the key ids it needs and gets the keys back as JWK.

The keys live in private objects (keys.py) and this is their only way out. In production,
run it behind your own authentication (a container or a Lambda behind API Gateway or
CloudFront) and set ``VIDEO_PIPELINE_LICENSE_URL`` to its address; ``make up`` runs it
locally::

    PYTHONPATH=plugins python -m video_pipeline.license --port 5001

The request and response are the W3C Encrypted Media Extensions' ClearKey formats:
``{"kids": [<base64url key id>], "type": "temporary"}`` in, a JWK set out.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from video_pipeline.config import Settings

log = logging.getLogger(__name__)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def respond(body: bytes, lookup: Callable[[str], str | None]) -> dict[str, Any]:
    """The JWK set for the request's key ids that ``lookup`` (key id hex -> key hex) knows."""
    request = json.loads(body)
    keys = []
    for kid in request["kids"]:
        key = lookup(_unb64url(kid).hex())
        if key:
            keys.append({"kty": "oct", "kid": kid, "k": _b64url(bytes.fromhex(key))})
    return {"keys": keys, "type": request.get("type", "temporary")}


def s3_lookup(s3: Any, settings: Settings) -> Callable[[str], str | None]:
    """Key id -> key from the private key objects."""

    def lookup(kid: str) -> str | None:
        if len(kid) != 32:
            return None
        try:
            body = s3.get_object(Bucket=settings.bucket, Key=f"{settings.keys_prefix}{kid}.json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)["key"]

    return lookup


def handler(lookup: Callable[[str], str | None]) -> type[BaseHTTPRequestHandler]:
    class License(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict[str, Any] | None = None) -> None:
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Cache-Control", "no-store")
            if payload is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:  # noqa: N802 - the CORS preflight of a JSON POST
            self._send(204)

        def do_POST(self) -> None:  # noqa: N802
            try:
                answer = respond(self.rfile.read(int(self.headers.get("Content-Length", 0))), lookup)
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": f"not a ClearKey license request: {exc}"})
                return
            self._send(200 if answer["keys"] else 404, answer)

        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

    return License


def main() -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = ThreadingHTTPServer((args.host, args.port),
                                 handler(s3_lookup(boto3.client("s3"), Settings.from_env())))
    log.info("ClearKey licenses on http://%s:%d/", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
