"""Finding 7: an encrypted video leaked in other forms. Each attack tried for real: anonymous HTTP on moto
server for the site, Chromium for the page, the license endpoint over HTTP, the key object on moto."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import quote

import boto3
import pytest
from helpers import bootstrapped_settings
from published_site import BUCKET, LOCKED, LOCKED_KEY, PLAIN, SECRET, serve_license

from video_contract.manifests import read_cues
from video_pipeline import search_index
from video_pipeline.config import Settings
from video_pipeline.keys import ensure_key, key_id
from video_pipeline.license import s3_lookup
from video_pipeline.tokens import b64url, mint

ADAPTIVE = "() => document.querySelector('video').dataset.adaptive === 'true'"


class _Tags(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _anonymous(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_encrypted_video_publishes_its_stream_and_page_and_nothing_else(published_site):
    """Its poster, GIFs, storyboard, thumbnails, transcript, subtitles, cues and chapters (titled with its words)
    are not on the site."""
    site = published_site
    plain_folder, folder = f"site/videos/{PLAIN}/", f"site/videos/{LOCKED}/"
    page_files = {"index.html", "player.js", "style.css", "favicon.svg", search_index.DOC}
    published = {key.removeprefix(folder) for key in site.keys(folder)}
    assert {"index.html", "stream/manifest.mpd", "stream/master.m3u8"} <= published
    assert {name for name in published if not name.startswith("stream/")} <= page_files, published
    assert not [name for name in published if name.endswith((".vtt", ".srt"))], published  # no text track at all
    # Whatever the clear video has beside its page, the encrypted one does not: an anonymous GET finds nothing.
    in_the_clear = {key.removeprefix(plain_folder) for key in site.keys(plain_folder)} - page_files
    in_the_clear = {name for name in in_the_clear if not name.startswith("stream/")}
    assert {"poster.jpg", "preview.gif", "storyboard.jpg", "storyboard.vtt", "subtitles.vtt", "subtitles.srt",
            "transcript.json", "detections.json", "chapters.vtt"} <= in_the_clear
    assert not [name for name in in_the_clear if _anonymous(site.url(folder + name)) == 200]

    html = site.body(folder + "index.html").decode()
    page = _Tags(html)
    transcript = site.manifests.transcript
    cues = read_cues(json.loads(site.body(transcript.uri(transcript.cues_file).removeprefix(f"s3://{BUCKET}/"))))
    said = [" ".join(cue.lines) for cue in cues]
    assert said and not [line for line in said if line in html]  # no line of the transcript
    assert not [tag for tag, attrs in page.tags if tag in ("img", "track") or "poster" in attrs
                or "data-sprite" in attrs or "download" in attrs]
    shown = " ".join(page.text).replace(LOCKED_KEY.removeprefix("incoming/"), "")  # the title is the file's name
    assert not re.search(r"\bcat\b", shown, re.IGNORECASE), shown  # nor what it shows (detect found the cat)

    # Search finds its title, and nothing it says or shows.
    assert json.loads(site.body(folder + search_index.DOC)) == {"cues": [], "shards": []}
    shards = site.keys("site/" + search_index.SHARDS)
    assert shards and not [key for key in shards for postings in json.loads(site.body(key)).values()
                           for video, _ in postings if video == LOCKED]
    entry = json.loads(site.body("site/" + search_index.INDEX))["videos"][LOCKED]
    assert (entry["poster"], entry["animals"], entry["language"], entry["chapters"]) == (None, [], None, []), entry
    index = _Tags(site.body("site/index.html").decode())
    assert not [attrs for tag, attrs in index.tags if tag == "img" and LOCKED in attrs.get("src", "")]


def test_an_encrypted_run_packages_no_subtitles_in_the_clear(monkeypatch, s3, moto_endpoint):
    """The packager writes text tracks unencrypted: register makes an encrypted run's key, and package gets
    that key and no track."""
    from airflow.dag_processing.dagbag import DagBag
    from local_env import ROOT

    from tests.dags.test_dag_definition import MANIFESTS, _run
    from video_pipeline.register import register_video
    from video_pipeline.run_params import Sources

    monkeypatch.setenv("VIDEO_PIPELINE_RUNNER", "local")
    monkeypatch.setenv("VIDEO_PIPELINE_BUCKET", "security-package")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {
        "endpoint_url": moto_endpoint, "region_name": "us-east-1"}}))
    settings = bootstrapped_settings(moto_endpoint, "security-package")
    s3.put_object(Bucket="security-package", Key="incoming/locked.mp4", Body=b"a video")
    params = {"video_key": "incoming/locked.mp4", "bucket": None, "encrypt": True}
    video = register_video(settings, Sources.from_settings(settings), params, run_id="manual__locked", conf=params)
    assert video.key_uri == f"s3://security-package/keys/{key_id(video.video_id)}.json"
    assert json.loads(s3.get_object(Bucket="security-package", Key=f"keys/{key_id(video.video_id)}.json")["Body"]
                      .read())["video_id"] == video.video_id
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    xcoms = {"register": video.to_json(), **MANIFESTS}  # a transcript with speech: English subtitles
    vtt = MANIFESTS["transcribe"]["artifacts"]["subtitles.vtt"]
    args = _run(bag.dags["video_pipeline"], "package", {**xcoms, "captions": None}, {"encrypt": True}).cli_args()
    assert args[-2:] == ["--key", video.key_uri] and "--subtitles" not in args
    clear = _run(bag.dags["video_pipeline"], "package", {**xcoms, "captions": None}, {"encrypt": False}).cli_args()
    assert clear[-2:] == ["--subtitles", f"en={vtt}"]  # in the clear, the stream keeps its subtitles


def test_the_playback_token_rides_in_the_fragment_and_leaves_the_address_bar(published_site, browser,
                                                                              violations_script):
    """Opened with #token=, the page plays; the token is in no URL the browser asks for, nor in its address."""
    site = published_site
    token = mint(SECRET, key_id(LOCKED), 600, time.time())
    page = browser.new_page()
    page.add_init_script(violations_script)
    requests: list = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"{site.locked.page_url}#t=2&token={quote(token)}")
    page.wait_for_function(ADAPTIVE, timeout=30_000)
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play().catch(() => {}); }")
    page.wait_for_function("() => document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames > 10",
                           timeout=30_000)
    assert page.evaluate("() => document.querySelector('video').currentTime") >= 2  # #t= kept and honoured
    assert token not in page.url and page.url.endswith("#t=2")
    assert page.evaluate("() => location.href") == page.url
    licenses = [r for r in requests if r.url == site.license_url and r.method == "POST"]
    assert licenses and all(r.all_headers().get("authorization") == f"Bearer {token}" for r in licenses)
    assert [r.url for r in requests if token in r.url or quote(token) in r.url] == []
    page.close()


def test_the_pages_show_no_broken_image_without_the_previews(published_site, browser):
    """The site index and the encrypted page, in Chromium: every image there loads."""
    site = published_site
    token = mint(SECRET, key_id(LOCKED), 600, time.time())
    page = browser.new_page()
    for url in (site.url("site/index.html"), f"{site.locked.page_url}#token={token}"):
        page.goto(url)
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=15_000)
        assert page.evaluate("() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)") == [], url
    assert page.get_by_role("heading", name="Downloads").count() == 0  # no empty list either
    page.close()


# The license endpoint and the key object: no site needed. ------------------------------------------------

@pytest.fixture(scope="module")
def settings(moto_endpoint) -> Settings:
    return bootstrapped_settings(moto_endpoint, "security-keys")


def _ask(url: str, kids: list[str], token: str) -> tuple[int, dict]:
    body = json.dumps({"kids": [b64url(bytes.fromhex(kid)) for kid in kids], "type": "temporary"}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_license_request_naming_one_key_id_600_times_reads_its_key_at_most_once(settings, moto_endpoint, s3):
    vid = "5ec0000000000003"
    ensure_key(s3, settings, vid)
    kid = key_id(vid)
    reads: list[str] = []
    counted = boto3.client("s3", endpoint_url=moto_endpoint)  # the endpoint's own client, every GetObject counted
    counted.meta.events.register("before-parameter-build.s3.GetObject",
                                  lambda params, **_: reads.append(params["Key"]))
    url = serve_license(s3_lookup(counted, settings), SECRET)
    token = mint(SECRET, kid, 60, time.time())

    status, body = _ask(url, [kid] * 600, token)
    assert (status, len(reads)) == (400, 0), (status, str(body)[:200], len(reads))
    assert "at most" in body["error"] and "600" in body["error"]
    status, body = _ask(url, [kid] * 3, token)  # a few repeats, under the cap: one read, one key
    assert (status, len(body["keys"]), reads) == (200, 1, [f"keys/{kid}.json"])


def test_two_runs_of_one_video_at_once_end_with_one_key_for_both(settings, moto_endpoint):
    """Run A finds no key and is about to write one; run B writes its key and packages with it first."""
    vid = "5ec0000000000004"
    name = f"keys/{key_id(vid)}.json"
    run_a, run_b = (boto3.client("s3", endpoint_url=moto_endpoint) for _ in range(2))
    packaged: dict[str, str] = {}

    def key_of(client) -> str:  # what that run's package stage reads from the key object
        return json.loads(client.get_object(Bucket=settings.bucket, Key=name)["Body"].read())["key"]

    def run_b_goes_first(**_) -> None:
        if "b" not in packaged:
            assert ensure_key(run_b, settings, vid) == f"s3://{settings.bucket}/{name}"
            packaged["b"] = key_of(run_b)

    run_a.meta.events.register("before-call.s3.PutObject", run_b_goes_first)
    assert ensure_key(run_a, settings, vid) == f"s3://{settings.bucket}/{name}"
    packaged["a"] = key_of(run_a)
    assert packaged["a"] == packaged["b"] == key_of(run_b), packaged  # B's segments still open with the key
    assert [o["Key"] for o in run_b.list_objects_v2(Bucket=settings.bucket, Prefix=name)["Contents"]] == [name]
    assert ensure_key(run_b, settings, vid) and key_of(run_b) == packaged["b"]  # a later run keeps it too
