"""Uploads never collide (issue 23, finding 2): each upload form is for a key of its own, for minutes.

Forms come from ``uploads.presigned_post``, which the upload page's API answers with, and are posted over
real HTTP multipart to moto server as a browser posts them. moto stores what is posted but does not check
the signed policy, so what S3 enforces is asserted on the policy itself. The uploaded name, which the
object carries as metadata, is read back as the register task reads it and published by the real
publish, from real probe and transcode outputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import boto3
import pytest
import requests

from video_contract.manifests import ProbeManifest, RunManifests, TranscodeManifest
from video_pipeline import uploads
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.discovery import is_video_key
from video_pipeline.identity import video_id
from video_pipeline.publish import publish
from video_pipeline.registration import Registration

BUCKET, TABLE = "security-uploads", "security-uploads-videos"
NAME = "GX010001.mp4"  # every GoPro's first clip: two people upload one named so
HOSTILE = "<script>alert(1)</script> ../../etc/passwd Été 🐈.mp4"


@pytest.fixture(scope="module")
def site(s3, moto_endpoint, monkeypatch_module) -> tuple[Settings, VideoCatalog]:
    monkeypatch_module.delenv("VIDEO_PIPELINE_UPLOAD_URL_TTL_S", raising=False)  # the shipped default
    s3.create_bucket(Bucket=BUCKET)
    table = boto3.resource("dynamodb", endpoint_url=moto_endpoint).create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}])
    settings = Settings.from_env(bucket=BUCKET, table=TABLE, incoming_prefix="incoming/", site_prefix="site/",
                                 public_base_url="", upload_max_bytes=20 * 1024 * 1024)
    return settings, VideoCatalog(table)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def form_for(s3, settings: Settings, name: str, size: int) -> dict:
    return uploads.presigned_post(s3, settings, uploads.Request(name, size, "video/mp4"))


def post(form: dict, body: bytes) -> None:
    """As the page posts it: the signed fields, then the file."""
    response = requests.post(form["url"], data=form["fields"], files={"file": ("blob", body)}, timeout=30)
    assert response.status_code < 300, response.text


def policy(form: dict) -> dict:
    return json.loads(base64.b64decode(form["fields"]["policy"]))


def test_two_forms_for_the_same_name_upload_two_videos(s3, site):
    """Both ask before either posts, then both post: each object holds its own uploader's bytes."""
    settings, catalog = site
    first, second = b"first user's video" * 100, b"second user's video" * 100
    forms = [form_for(s3, settings, NAME, len(first)), form_for(s3, settings, NAME, len(second))]
    print("keys:", [f["key"] for f in forms])
    post(forms[0], first)
    post(forms[1], second)

    for form, body in zip(forms, (first, second), strict=True):
        key = form["key"]
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body, f"{key} holds another's upload"
        assert re.fullmatch(r"incoming/[0-9a-f]{32}/GX010001\.mp4", key)  # a uuid4: 122 random bits
        assert is_video_key(key, settings.video_extensions)  # discovery still takes it
        assert policy(form)["conditions"].count({"key": key}) == 1  # S3 takes this form for this key only
        # The uploader's page follows the run of its own bytes, not the other's.
        found = uploads.status(s3, settings, catalog, key)
        assert found["video_id"] == video_id(BUCKET, key, hashlib.md5(body).hexdigest())


def test_a_form_is_valid_for_ten_minutes_at_most(s3, site):
    settings, _ = site
    asked = datetime.now(UTC)
    expiration = datetime.fromisoformat(policy(form_for(s3, settings, NAME, 10))["expiration"])
    print("form valid for", (expiration - asked).total_seconds(), "s")
    assert 0 < (expiration - asked).total_seconds() <= 600 + 1


@pytest.mark.parametrize(("name", "shown"), [
    (NAME, NAME),
    (HOSTILE, HOSTILE),
    ("../../etc/passwd.mp4", "../../etc/passwd.mp4"),  # text in a title, never a path
    ("\u202egnp.mp4", "gnp.mp4"),  # a right-to-left override would show it as "4pm.png"
    ("tab\tand\nnew  line\x00.mp4", "tab and new line.mp4"),  # one space for any run of white space
    ("猫" * 200 + ".mp4", "猫" * 84 + "…"),  # 255 UTF-8 bytes at most: 84 three-byte characters and "…"
], ids=["plain", "hostile", "path", "bidi", "control", "long"])
def test_the_uploaded_name_travels_with_the_object(s3, site, name, shown):
    settings, _ = site
    form = form_for(s3, settings, name, 4)
    post(form, b"data")
    head = s3.head_object(Bucket=BUCKET, Key=form["key"])
    meta = head["Metadata"]["original-name"]
    assert meta.isascii() and len(meta) <= 3 * 255  # S3 metadata is ASCII, 2 KB at most
    # The policy pins it: a form posted with another name is refused by S3.
    assert {"x-amz-meta-original-name": meta} in policy(form)["conditions"]
    assert uploads.uploaded_name(head) == shown


class Texts(HTMLParser):
    """The text of each element of the given tags, entities decoded, as a browser shows it."""

    def __init__(self, *tags: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags = tags
        self.open: list[str] = []
        self.found: dict[str, list[str]] = {tag: [] for tag in tags}

    def handle_starttag(self, tag, attrs):
        if tag in self.tags:
            self.open.append(tag)
            self.found[tag].append("")

    def handle_endtag(self, tag):
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data):
        if self.open:
            self.found[self.open[-1]][-1] += data


def texts(html: str, *tags: str) -> dict[str, list[str]]:
    parser = Texts(*tags)
    parser.feed(html)
    return parser.found


@pytest.fixture(scope="module")
def clip(make_media):
    return make_media("security-upload.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def published_page(s3, site, run_worker, video: Registration) -> tuple[str, dict]:
    """Probe and transcode by the real worker, then publish: the page's HTML and the catalog item."""
    settings, catalog = site
    manifests = {}
    for stage, args in (("probe", ()), ("transcode", ("--ladder", "120"))):
        result = run_worker(stage, "--source", video.source, "--dest", video.stage_dest(stage), *args)
        assert result.returncode == 0, result.stderr[-3000:]
        manifests[stage] = result.manifest
    out = publish(s3=s3, catalog=catalog, settings=settings, video=video, run_id=f"manual__{video.video_id}",
                  manifests=RunManifests(probe=ProbeManifest.from_json(manifests["probe"]),
                                         transcode=TranscodeManifest.from_json(manifests["transcode"])),
                  caption_review=None)
    return s3.get_object(Bucket=BUCKET, Key=out.page_key)["Body"].read().decode(), catalog.get(video.video_id)


def registered(s3, key: str) -> Registration:
    """What the register task hands publish: the object's identity, and the name it was uploaded with."""
    head = s3.head_object(Bucket=BUCKET, Key=key)
    etag = head["ETag"].strip('"')
    vid = video_id(BUCKET, key, etag)
    return Registration(video_id=vid, bucket=BUCKET, key=key, etag=etag, name=uploads.uploaded_name(head),
                        source=f"s3://{BUCKET}/{key}", work=f"s3://{BUCKET}/work/{vid}", done=False)


def test_the_published_title_is_the_uploaded_name_as_text(s3, site, run_worker, clip):
    settings, _ = site
    form = form_for(s3, settings, HOSTILE, clip.stat().st_size)
    post(form, clip.read_bytes())
    html, item = published_page(s3, site, run_worker, registered(s3, form["key"]))

    assert item["title"] == HOSTILE  # not the key's uuid
    shown = texts(html, "title", "h1")
    assert shown["title"] == [HOSTILE] and shown["h1"] == [HOSTILE]
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    index = s3.get_object(Bucket=BUCKET, Key="site/index.html")["Body"].read().decode()
    assert "<script>alert(1)" not in index and "&lt;script&gt;alert(1)" in index


def test_a_video_uploaded_without_the_form_keeps_its_title_from_the_key(s3, site, run_worker, clip):
    """An S3 event's or a CLI's upload carries no name: the title is the key below the incoming prefix."""
    key = f"incoming/{NAME}"
    s3.upload_file(str(clip), BUCKET, key)
    video = registered(s3, key)
    assert video.name is None
    _, item = published_page(s3, site, run_worker, video)
    assert item["title"] == NAME
