"""A site for the encryption and CSP tests: one clip through the real worker stages, published by publish()
twice, in the clear and encrypted, on moto server; a real license endpoint on 127.0.0.1 for the encrypted one.

conftest.py imports the fixtures, so both test files share one build (the stages take a minute).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import pytest
from local_env import free_port

from video_contract.manifests import (
    ChaptersManifest,
    DetectManifest,
    Manifest,
    PackageManifest,
    PreviewsManifest,
    ProbeManifest,
    RunManifests,
    TranscodeManifest,
    TranscribeManifest,
)
from video_pipeline.bootstrap import bootstrap
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.keys import ensure_key
from video_pipeline.registration import Registration

if TYPE_CHECKING:  # publish imports Airflow, which conftest sets up first
    from video_pipeline.publish import PublishResult

BUCKET, TABLE = "security-site", "security-site-videos"
SECRET = "the security tests' license secret"
PLAIN, LOCKED = "5ec0000000000001", "5ec0000000000002"  # video ids
M = TypeVar("M", bound=Manifest)
PLAIN_KEY, LOCKED_KEY = "incoming/cat in the clear.mp4", "incoming/cat under a key.mp4"


def serve_license(lookup: Callable[[str], str | None], secret: str) -> str:
    """license.app() served by uvicorn on a free 127.0.0.1 port, in a daemon thread; its /clearkey URL."""
    import uvicorn

    from video_pipeline.license import app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app(lookup, secret), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return f"http://127.0.0.1:{port}/clearkey"


@dataclass
class Site:
    s3: Any
    settings: Settings
    catalog: VideoCatalog
    manifests: RunManifests  # the clip's stages; the package is the stream in the clear
    locked_manifests: RunManifests  # the same, packaged encrypted (as a run with encrypt does)
    plain: PublishResult
    locked: PublishResult
    license_url: str

    def url(self, key: str) -> str:
        return self.settings.site_url(key)

    def body(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def keys(self, prefix: str) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture(scope="session")
def published_site(moto_endpoint, s3, run_worker, cat_clip) -> Site:
    from video_pipeline.license import s3_lookup
    from video_pipeline.publish import publish

    base = Settings.from_env(bucket=BUCKET, table=TABLE, site_prefix="site/", incoming_prefix="incoming/",
                             public_base_url="")
    bootstrap(s3=s3, dynamodb=boto3.client("dynamodb", endpoint_url=moto_endpoint), settings=base)
    settings = base.model_copy(update={"license_url": serve_license(s3_lookup(s3, base), SECRET)})
    catalog = VideoCatalog(boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE))
    for key in (PLAIN_KEY, LOCKED_KEY):
        s3.upload_file(str(cat_clip), BUCKET, key)

    def video(vid: str, key: str) -> Registration:
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
        return Registration(video_id=vid, bucket=BUCKET, key=key, etag=etag, name=None, source=f"s3://{BUCKET}/{key}",
                            work=f"s3://{BUCKET}/work/{vid}", done=False)

    videos = {PLAIN: video(PLAIN, PLAIN_KEY), LOCKED: video(LOCKED, LOCKED_KEY)}

    def stage(vid: str, kind: type[M], source: str, *args: str) -> M:
        result = run_worker(kind.STAGE, "--source", source, "--dest", videos[vid].stage_dest(kind.STAGE), *args)
        assert result.returncode == 0, result.stderr[-3000:]
        return kind.from_json(result.manifest)

    source = videos[PLAIN].source
    transcode = stage(PLAIN, TranscodeManifest, source, "--ladder", "240")
    transcript = stage(PLAIN, TranscribeManifest, source)
    detect = stage(PLAIN, DetectManifest, source)
    assert transcript.speech and detect.animals, (transcript, detect)
    out = RunManifests(
        probe=stage(PLAIN, ProbeManifest, source), transcode=transcode, transcript=transcript, detect=detect,
        previews=stage(PLAIN, PreviewsManifest, source, "--detections", detect.uri(detect.DETECTIONS)),
        package=stage(PLAIN, PackageManifest, transcode.manifest_uri,
                      "--subtitles", f"en={transcript.uri(transcript.subtitles.vtt)}"),
        chapters=stage(PLAIN, ChaptersManifest, transcode.uri(transcode.renditions[-1].file),
                       "--cues", transcript.uri(transcript.cues_file)),
    )
    # As an encrypted run packages: with its key, and no text track (the packager writes those in the clear).
    locked = dataclasses.replace(out, package=stage(LOCKED, PackageManifest, transcode.manifest_uri,
                                                    "--key", ensure_key(s3, settings, LOCKED)))
    results = {vid: publish(s3=s3, catalog=catalog, settings=settings, video=videos[vid], manifests=manifests,
                            run_id=f"manual__{vid}", caption_review=None)
               for vid, manifests in ((PLAIN, out), (LOCKED, locked))}
    return Site(s3, settings, catalog, out, locked, results[PLAIN], results[LOCKED], settings.license_url)


@pytest.fixture(scope="session")
def violations_script() -> str:
    """An init script for Playwright pages: every ``securitypolicyviolation`` lands in window.violations."""
    return """window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`));"""
