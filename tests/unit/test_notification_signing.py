"""The webhook signature (webhook_signature.py), the receivers' copy of ``verify`` in docs/notifications.md,
the event's id, and the check of WEBHOOK_URLS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from video_pipeline.config import Settings, SettingsError
from video_pipeline.notifications import Event, event_id
from video_pipeline.webhook_signature import SignatureError, sign, verify

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
SECRET = "whsec-unit-test"
BODY = b'{"id":"abc","status":"published"}'
NOW = 1_800_000_000


def documented_verify():
    """The first Python block of docs/notifications.md, run: what a receiver copies."""
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block, "no Python block in docs/notifications.md"
    namespace: dict = {}
    exec(compile(block[1], str(DOC), "exec"), namespace)
    return namespace["verify"], namespace["SignatureError"]


def cases() -> dict[str, tuple[str, bytes, float]]:
    """(header, body, receiver's clock) of deliveries, genuine and not."""
    good = sign(SECRET, BODY, NOW)
    digest = good.split("v1=")[1]
    return {
        "genuine": (good, BODY, NOW),
        "genuine, 4 minutes late": (good, BODY, NOW + 240),
        "genuine among rotated secrets": (f"t={NOW},v1={'0' * 64},v1={digest}", BODY, NOW),
        "body changed": (good, BODY.replace(b"published", b"failed"), NOW),
        "body re-serialised": (good, b'{"id": "abc", "status": "published"}', NOW),
        "time changed": (good.replace(f"t={NOW}", f"t={NOW + 1}"), BODY, NOW),
        "other secret": (sign("another secret", BODY, NOW), BODY, NOW),
        "replayed after 6 minutes": (good, BODY, NOW + 360),
        "from the future": (good, BODY, NOW - 360),
        "no signature": (f"t={NOW}", BODY, NOW),
        "no time": (f"v1={digest}", BODY, NOW),
        "two times": (f"t={NOW},t={NOW},v1={digest}", BODY, NOW),
        "empty header": ("", BODY, NOW),
        "not ascii": (f"t={NOW},v1=é{digest[1:]}", BODY, NOW),
    }


GENUINE = {"genuine", "genuine, 4 minutes late", "genuine among rotated secrets"}


@pytest.mark.parametrize("case", cases())
def test_only_a_genuine_fresh_delivery_verifies(case):
    header, body, now = cases()[case]
    if case in GENUINE:
        assert verify(SECRET, header, body, now) == NOW
    else:
        with pytest.raises(SignatureError):
            verify(SECRET, header, body, now)


@pytest.mark.parametrize("case", cases())
def test_the_documented_verify_decides_as_the_pipelines_does(case):
    doc_verify, doc_error = documented_verify()
    header, body, now = cases()[case]
    if case in GENUINE:
        assert doc_verify(SECRET, header, body, now) == NOW
    else:
        with pytest.raises(doc_error):
            doc_verify(SECRET, header, body, now)


def test_the_signature_is_hmac_sha256_of_time_dot_body():
    """As receivers are told: hex HMAC-SHA256 of ``<t>.<body>``; an independent computation agrees."""
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"
    with pytest.raises(ValueError):
        sign("", BODY, NOW)


def test_an_event_id_is_the_same_for_the_same_video_status_and_run_and_differs_otherwise():
    base = event_id("v1", "published", "run-a")
    assert base == event_id("v1", "published", "run-a")
    assert len({base, event_id("v2", "published", "run-a"), event_id("v1", "failed", "run-a"),
                event_id("v1", "published", "run-b")}) == 4
    event = Event.of("failed", video_id="v1", source="s3://b/k", run_id="run-a", stage="probe", reason="not a video")
    assert Event.from_json(event.to_json()) == event and event.id == event_id("v1", "failed", "run-a")
    with pytest.raises(ValueError):
        Event.of("deleted", video_id="v1", source="s3://b/k", run_id="run-a")


@pytest.mark.parametrize("urls", ["https://hooks.example.com/T0/B1/secret-token", "http://127.0.0.1:5002/events",
                                  "http://10.0.0.7/hook?token=x, https://a.example.com/"])
def test_http_urls_with_a_host_are_taken(urls):
    assert Settings.from_env(webhook_urls=urls).webhook_urls == tuple(u.strip() for u in urls.split(","))


@pytest.mark.parametrize("urls", ["ftp://example.com/hook", "file:///etc/passwd", "hooks.example.com/x",
                                  "https:///nohost", "https://user:pw-token@example.com/", "https://example.com/#x",
                                  "http://example.com:port/", "https://ok.example.com/, javascript:alert(1)"])
def test_other_urls_are_refused_without_repeating_them(urls):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(webhook_urls=urls)
    message = str(refused.value)
    assert "VIDEO_PIPELINE_WEBHOOK_URLS" in message and "not an http(s) URL" in message
    assert urls not in message and "pw-token" not in message
