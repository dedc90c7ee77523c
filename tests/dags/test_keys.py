"""Per-video ClearKey keys on moto server: made once, private, given only with a playback token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from helpers import bootstrapped_settings
from local_env import ROOT, free_port

from video_pipeline.config import Settings
from video_pipeline.keys import ensure_key, key_id
from video_pipeline.license import s3_lookup
from video_pipeline.tokens import TokenError, b64url, mint, verify

SECRET = "a test secret, not a real one"
KID = key_id("0123456789abcdef")


@pytest.fixture(scope="module")
def settings(moto_endpoint) -> Settings:
    return bootstrapped_settings(moto_endpoint, "keys-test")


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


def test_a_token_opens_one_video_until_it_expires():
    now = time.time()
    token = mint(SECRET, KID, 60, now)
    verify(SECRET, token, KID, now + 59)  # valid: no exception
    payload, signature = token.split(".")
    forged = b64url(json.dumps({"kid": KID, "exp": int(now) + 10**6}).encode())  # a longer life, the old signature
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    cases = [
        ("token expired", token, KID, now + 60),
        ("token is for another video", token, key_id("fedcba9876543210"), now),
        ("bad token signature", mint("another secret", KID, 60, now), KID, now),
        ("bad token signature", f"{forged}.{signature}", KID, now),
        ("bad token signature", f"{payload}.{flipped}", KID, now),
    ]
    for reason, candidate, kid, at in cases:
        with pytest.raises(TokenError, match=reason):
            verify(SECRET, candidate, kid, at)


@pytest.mark.parametrize("token", ["", "no-dot", ".sig", "payload.", "a.b.c"])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(TokenError):
        verify(SECRET, token, KID, time.time())


def test_a_signed_payload_that_is_not_a_claim_is_malformed():
    from video_pipeline.tokens import _sign

    for payload in ("!!!", b64url(b"[1, 2]"), b64url(b'{"kid": "x"}')):
        with pytest.raises(TokenError, match="malformed"):
            verify(SECRET, f"{payload}.{_sign(SECRET, payload)}", KID, time.time())


def test_no_secret_mints_and_opens_nothing():
    with pytest.raises(ValueError):
        mint("", KID, 60, time.time())
    with pytest.raises(TokenError, match="no secret"):
        verify("", mint(SECRET, KID, 60, time.time()), KID, time.time())


def _token_command(*args: str, secret: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VIDEO_PIPELINE_LICENSE_SECRET"}
    env["PYTHONPATH"] = str(ROOT / "plugins")
    if secret is not None:
        env["VIDEO_PIPELINE_LICENSE_SECRET"] = secret
    return subprocess.run([sys.executable, "-m", "video_pipeline.license", "token", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_the_token_command_mints_with_the_configured_secret():
    minted = _token_command("--video", "0123456789abcdef", "--ttl", "120", secret=SECRET)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    verify(SECRET, token, KID, time.time() + 110)
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, token, KID, time.time() + 130)
    refused = _token_command("--video", "0123456789abcdef", secret=None)
    assert refused.returncode != 0 and "VIDEO_PIPELINE_LICENSE_SECRET is not set" in refused.stderr
    assert refused.stdout == ""


@pytest.fixture(scope="module")
def serve():
    """Run license.app() with uvicorn on a free 127.0.0.1 port; returns its /clearkey URL."""
    import uvicorn

    servers = []

    def start(lookup, secret: str) -> str:
        from video_pipeline.license import app

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app(lookup, secret), host="127.0.0.1", port=port,
                                               log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        servers.append(server)
        return f"http://127.0.0.1:{port}/clearkey"

    yield start
    for server in servers:
        server.should_exit = True


def _ask(url: str, body: bytes, **headers: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Origin": "https://site.example",
                                              **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def _license_request(*kids: str) -> bytes:
    return json.dumps({"kids": [b64url(bytes.fromhex(kid)) for kid in kids], "type": "temporary"}).encode()


def test_license_endpoint_gives_a_key_only_for_a_valid_token(s3, settings, serve):
    ensure_key(s3, settings, "aaaaaaaaaaaaaaaa")
    kid, other = key_id("aaaaaaaaaaaaaaaa"), key_id("bbbbbbbbbbbbbbbb")
    key = json.loads(s3.get_object(Bucket="keys-test", Key=f"keys/{kid}.json")["Body"].read())["key"]
    url = serve(s3_lookup(s3, settings), SECRET)
    now = time.time()

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    status, body, headers = _ask(url, _license_request(kid), **bearer(mint(SECRET, kid, 60, now)))
    assert (status, headers["access-control-allow-origin"], headers["cache-control"]) == (200, "*", "no-store")
    assert body == {"keys": [{"kty": "oct", "kid": b64url(bytes.fromhex(kid)), "k": b64url(bytes.fromhex(key))}],
                    "type": "temporary"}

    valid = mint(SECRET, kid, 60, now)
    payload, signature = valid.split(".")
    refused = [
        ("no playback token", {}),
        ("no playback token", {"Authorization": f"Basic {valid}"}),
        ("token expired", bearer(mint(SECRET, kid, 60, now - 3600))),
        ("bad token signature", bearer(f"{b64url(json.dumps({'kid': kid, 'exp': 2**40}).encode())}.{signature}")),
        ("bad token signature", bearer(mint("another secret", kid, 60, now))),
        ("token is for another video", bearer(mint(SECRET, other, 60, now))),
        ("malformed token", bearer(payload)),
    ]
    for reason, headers in refused:
        status, body, answered = _ask(url, _license_request(kid), **headers)
        assert (status, list(body)) == (403, ["error"]) and reason in body["error"], reason  # and no keys
        assert answered["access-control-allow-origin"] == "*"  # the page can read why
    # A token for one key does not open another in the same request.
    status, body, _ = _ask(url, _license_request(kid, other), **bearer(valid))
    assert status == 403 and "another video" in body["error"]

    status, body, _ = _ask(url, _license_request("00" * 16), **bearer(mint(SECRET, "00" * 16, 60, now)))
    assert status == 404 and body["keys"] == []  # a key id nobody has
    status, body, _ = _ask(url, b"not json", **bearer(valid))
    assert status == 400 and "not a ClearKey license request" in body["error"]
    status, body, _ = _ask(url, b" " * (16 * 1024 + 1), **bearer(valid))
    assert status == 413 and "16384 bytes" in body["error"]


def test_license_endpoint_answers_the_cors_preflight_of_a_page_elsewhere(s3, settings, serve):
    url = serve(s3_lookup(s3, settings), SECRET)
    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": "https://site.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed


def test_without_a_secret_the_endpoint_gives_no_key_at_all(s3, settings, serve):
    ensure_key(s3, settings, "aaaaaaaaaaaaaaaa")
    kid = key_id("aaaaaaaaaaaaaaaa")
    url = serve(s3_lookup(s3, settings), "")
    for token in (mint(SECRET, kid, 60, time.time()), ""):
        status, body, _ = _ask(url, _license_request(kid), Authorization=f"Bearer {token}")
        assert status == 503 and "VIDEO_PIPELINE_LICENSE_SECRET" in body["error"] and "keys" not in body
