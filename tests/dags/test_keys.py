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
