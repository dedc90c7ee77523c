"""bootstrap() against a real moto server: idempotent, the right table, and only the site is public."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import pytest

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings


@pytest.fixture(scope="module")
def clients(moto_endpoint):
    return boto3.client("s3", endpoint_url=moto_endpoint), boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def settings() -> Settings:
    """Own bucket and table names: the moto server is shared by the whole session."""
    return Settings.from_env(bucket="bootstrap-test", table="bootstrap-test-videos")


@pytest.fixture(scope="module")
def first_run(clients, settings) -> list[str]:
    s3, dynamodb = clients
    return bootstrap(s3=s3, dynamodb=dynamodb, settings=settings)


def anonymous_get(endpoint: str, bucket: str, key: str) -> int:
    """Status of an unsigned GET, as a browser would send it."""
    try:
        with urllib.request.urlopen(f"{endpoint}/{bucket}/{key}", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_first_run_creates_everything(first_run, settings):
    assert first_run == [
        f"bucket {settings.bucket}: created in us-east-1",
        f"table {settings.table}: created (hash key video_id, on demand)",
        f"bucket {settings.bucket}: public access block set (public ACLs blocked, public policy allowed)",
        f"bucket {settings.bucket}: policy set (public read of arn:aws:s3:::{settings.bucket}/site/*)",
        f"bucket {settings.bucket}: CORS set (GET, HEAD and signed POST uploads from any origin)",
    ]


def test_second_run_only_reads(first_run, clients, settings):
    s3, dynamodb = clients
    calls: list[str] = []

    def record(model, **_) -> None:
        calls.append(model.name)

    for client in (s3, dynamodb):
        client.meta.events.register("before-call", record)
    try:
        again = bootstrap(s3=s3, dynamodb=dynamodb, settings=settings)
    finally:
        for client in (s3, dynamodb):
            client.meta.events.unregister("before-call", record)
    assert all(line.endswith((": exists", " unchanged")) for line in again), again
    assert calls and all(name.startswith(("Head", "Get", "Describe")) for name in calls), calls


def test_keeps_statements_and_rules_of_others(first_run, clients, settings):
    """A production bucket may already have its own policy statements and CORS rules."""
    s3, dynamodb = clients
    policy = json.loads(s3.get_bucket_policy(Bucket=settings.bucket)["Policy"])
    other = {"Sid": "Other", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
             "Resource": f"arn:aws:s3:::{settings.bucket}"}
    ours = policy["Statement"][0]
    policy["Statement"] = [other, {**ours, "Resource": f"arn:aws:s3:::{settings.bucket}/*"}]
    s3.put_bucket_policy(Bucket=settings.bucket, Policy=json.dumps(policy))

    lines = bootstrap(s3=s3, dynamodb=dynamodb, settings=settings)

    assert lines[3].startswith(f"bucket {settings.bucket}: policy set")
    statements = json.loads(s3.get_bucket_policy(Bucket=settings.bucket)["Policy"])["Statement"]
    assert statements == [other, ours]


def test_table_key_schema(first_run, clients, settings):
    table = clients[1].describe_table(TableName=settings.table)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "video_id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "video_id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_only_the_site_prefix_is_public(first_run, clients, settings, moto_endpoint):
    s3 = clients[0]
    for key in ("site/videos/abc/index.html", "incoming/clip.mp4", "work/abc/probe/metadata.json", "siteless.txt"):
        s3.put_object(Bucket=settings.bucket, Key=key, Body=b"x")
    assert anonymous_get(moto_endpoint, settings.bucket, "site/videos/abc/index.html") == 200
    assert anonymous_get(moto_endpoint, settings.bucket, "incoming/clip.mp4") == 403
    assert anonymous_get(moto_endpoint, settings.bucket, "work/abc/probe/metadata.json") == 403
    assert anonymous_get(moto_endpoint, settings.bucket, "siteless.txt") == 403


def test_cors_lets_players_fetch_subtitles(first_run, clients, settings):
    rules = clients[0].get_bucket_cors(Bucket=settings.bucket)["CORSRules"]
    assert len(rules) == 1
    assert rules[0]["AllowedOrigins"] == ["*"]
    assert sorted(rules[0]["AllowedMethods"]) == ["GET", "HEAD", "POST"]


def test_events_queue_receives_uploads_under_the_incoming_prefix_only(clients, settings, moto_endpoint):
    s3, dynamodb = clients
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    evented = Settings.from_env(bucket="bootstrap-events", table=settings.table, events_queue="bootstrap-uploads")
    first = bootstrap(s3=s3, dynamodb=dynamodb, sqs=sqs, settings=evented)
    url = sqs.get_queue_url(QueueName="bootstrap-uploads")["QueueUrl"]
    assert first[-2:] == [
        f"queue bootstrap-uploads: created ({url})",
        "bucket bootstrap-events: notification set (object created under incoming/ to "
        "arn:aws:sqs:us-east-1:123456789012:bootstrap-uploads)",
    ]
    again = bootstrap(s3=s3, dynamodb=dynamodb, sqs=sqs, settings=evented)
    assert again[-2:] == [f"queue bootstrap-uploads: exists ({url})", "bucket bootstrap-events: notification unchanged"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"] == {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bootstrap-events"}}

    s3.put_object(Bucket=evented.bucket, Key="incoming/a clip.mp4", Body=b"x")
    s3.put_object(Bucket=evented.bucket, Key="work/not-an-upload.mp4", Body=b"x")
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1).get("Messages", [])]
    from video_pipeline.discovery import keys_from_messages

    assert keys_from_messages(bodies) == [("bootstrap-events", "incoming/a clip.mp4")]
