"""Per-video ClearKey keys on moto server: made once, private, found by key id."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request

import boto3
import pytest

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.keys import ensure_key, key_id


@pytest.fixture(scope="module")
def settings(moto_endpoint) -> Settings:
    settings = dataclasses.replace(Settings.from_env(), bucket="keys-test", table="keys-test-videos")
    bootstrap(s3=boto3.client("s3", endpoint_url=moto_endpoint),
              dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint), settings=settings)
    return settings


def test_a_video_gets_one_random_key_kept_private(s3, settings, moto_endpoint):
    uri = ensure_key(s3, settings, "0123456789abcdef")
    kid = key_id("0123456789abcdef")
    assert uri == f"s3://keys-test/keys/{kid}.json" and len(kid) == 32 and kid != key_id("fedcba9876543210")
    stored = json.loads(s3.get_object(Bucket="keys-test", Key=f"keys/{kid}.json")["Body"].read())
    assert stored["key_id"] == kid and len(bytes.fromhex(stored["key"])) == 16

    assert ensure_key(s3, settings, "0123456789abcdef") == uri  # a rerun keeps the key
    again = json.loads(s3.get_object(Bucket="keys-test", Key=f"keys/{kid}.json")["Body"].read())
    assert again["key"] == stored["key"]

    with pytest.raises(urllib.error.HTTPError) as denied:  # the site is public, keys are not
        urllib.request.urlopen(f"{moto_endpoint}/keys-test/keys/{kid}.json", timeout=10)
    assert denied.value.code == 403


def test_license_endpoint_answers_clearkey_requests_over_http(s3, settings):
    import base64
    import threading
    from http.server import ThreadingHTTPServer

    from video_pipeline.license import handler, s3_lookup

    ensure_key(s3, settings, "aaaaaaaaaaaaaaaa")
    kid = key_id("aaaaaaaaaaaaaaaa")
    key = json.loads(s3.get_object(Bucket="keys-test", Key=f"keys/{kid}.json")["Body"].read())["key"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(s3_lookup(s3, settings)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/clearkey"

    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def ask(*kids: str) -> tuple[int, dict, str]:
        request = urllib.request.Request(url, data=json.dumps({"kids": list(kids), "type": "temporary"}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response), response.headers["Access-Control-Allow-Origin"]
        except urllib.error.HTTPError as error:
            return error.code, json.load(error), error.headers["Access-Control-Allow-Origin"]

    try:
        status, body, cors = ask(b64url(bytes.fromhex(kid)))
        assert (status, cors) == (200, "*")
        assert body == {"keys": [{"kty": "oct", "kid": b64url(bytes.fromhex(kid)),
                                  "k": b64url(bytes.fromhex(key))}], "type": "temporary"}
        status, body, _ = ask(b64url(bytes(16)))  # a key id nobody has
        assert status == 404 and body["keys"] == []
    finally:
        server.shutdown()
