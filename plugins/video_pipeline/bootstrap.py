"""Create the bucket, the videos table and the site's public read, the same way on AWS and on moto.

Every step reads the current state first and writes only what differs, so
running it again (every ``make up``, or against a production account that
already has it all) changes nothing. Bucket policy statements and CORS rules
that others added are kept; only the ones with our id are replaced.

    PYTHONPATH=plugins python -m video_pipeline.bootstrap

uses boto3's default credentials and ``AWS_ENDPOINT_URL`` when it is set. With
``VIDEO_PIPELINE_EVENTS_QUEUE`` (default ``video-pipeline-uploads``; empty: none)
it also creates the SQS queue that the bucket notifies of uploads under the
incoming prefix, for the ``video_events`` DAG; with ``VIDEO_PIPELINE_SNS_TOPIC_ARN``, the
notifications' SNS topic.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from video_pipeline.config import Settings

log = logging.getLogger(__name__)

POLICY_SID = "VideoPipelinePublicSite"
CORS_ID = "video-pipeline-site"
QUEUE_SID = "VideoPipelineUploads"
NOTIFICATION_ID = "video-pipeline-uploads"
# Public ACLs stay blocked (the site is public through the policy alone, which
# names the prefix); public policies must be allowed or AWS rejects ours.
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_bucket(s3: Any, bucket: str) -> str:
    try:
        s3.head_bucket(Bucket=bucket)
        return f"bucket {bucket}: exists"
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise RuntimeError(f"bucket {bucket} exists but is not readable with these credentials: {exc}") from exc
    region = s3.meta.region_name or "us-east-1"
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 rejects its own name as a LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if _error_code(exc) != "BucketAlreadyOwnedByYou":  # created meanwhile by a concurrent run
            raise
    s3.get_waiter("bucket_exists").wait(Bucket=bucket, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return f"bucket {bucket}: created in {region}"


def ensure_table(dynamodb: Any, table: str) -> str:
    """The videos table: one item per video, keyed by ``video_id`` (see catalog.py)."""
    try:
        description = dynamodb.describe_table(TableName=table)["Table"]
        created = False
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        description = dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]
        created = True
    key_schema = [(k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]]
    if key_schema != [("video_id", "HASH")]:
        raise RuntimeError(f"table {table} exists with key {key_schema}; the pipeline needs hash key video_id only")
    if description["TableStatus"] != "ACTIVE":
        dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
    return f"table {table}: created (hash key video_id, on demand)" if created else f"table {table}: exists"


def ensure_public_access_block(s3: Any, bucket: str) -> str:
    try:
        current = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        current = None
    if current == PUBLIC_ACCESS_BLOCK:
        return f"bucket {bucket}: public access block unchanged"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
    return f"bucket {bucket}: public access block set (public ACLs blocked, public policy allowed)"


def site_statement(s3: Any, settings: Settings) -> dict[str, Any]:
    """Anonymous read of the site prefix and nothing else: incoming and work stay private."""
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:{s3.meta.partition}:s3:::{settings.bucket}/{settings.site_prefix}*",
    }


def ensure_policy(s3: Any, settings: Settings) -> str:
    bucket = settings.bucket
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if _error_code(exc) != "NoSuchBucketPolicy":
            raise
        policy = {"Version": "2012-10-17", "Statement": []}
    statement = site_statement(s3, settings)
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):  # a policy may hold one statement unwrapped
        statements = [statements]
    if [s for s in statements if s.get("Sid") == POLICY_SID] == [statement]:
        return f"bucket {bucket}: policy unchanged"
    policy["Statement"] = [*(s for s in statements if s.get("Sid") != POLICY_SID), statement]
    try:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    except ClientError as exc:
        if _error_code(exc) == "AccessDenied":
            raise RuntimeError(
                f"AWS refused the public policy on {bucket}: the account's S3 Block Public Access "
                "probably blocks public policies (aws s3control put-public-access-block)"
            ) from exc
        raise
    return f"bucket {bucket}: policy set (public read of {statement['Resource']})"


def ensure_cors(s3: Any, bucket: str) -> str:
    """Players fetch subtitles and storyboards cross-origin (``<track>`` with ``crossorigin``, hls.js), and
    the upload page posts files from Airflow's origin: a POST needs a policy signed for its key anyway."""
    rule = {
        "ID": CORS_ID,
        "AllowedMethods": ["GET", "HEAD", "POST"],
        "AllowedOrigins": ["*"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["Content-Length", "Content-Range", "Accept-Ranges", "ETag"],
        "MaxAgeSeconds": 3600,
    }
    try:
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchCORSConfiguration":
            raise
        rules = []
    if [r for r in rules if r.get("ID") == CORS_ID] == [rule]:
        return f"bucket {bucket}: CORS unchanged"
    others = [r for r in rules if r.get("ID") != CORS_ID]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*others, rule]})
    return f"bucket {bucket}: CORS set (GET, HEAD and signed POST uploads from any origin)"


def ensure_queue(sqs: Any, s3: Any, settings: Settings) -> tuple[str, str]:
    """The SQS queue the bucket notifies, writable by S3 for this bucket only; returns (line, ARN)."""
    name = settings.events_queue
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        created = False
    except ClientError as exc:
        if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        # Longer than a run of video_events takes to read and start runs, so nothing is read twice.
        url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "120",
                                                           "MessageRetentionPeriod": "1209600"})["QueueUrl"]
        created = True
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": QUEUE_SID, "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:{s3.meta.partition}:s3:::{settings.bucket}"}},
    }]}
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
    if not current or json.loads(current) != policy:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    line = (f"queue {name}: created" if created else f"queue {name}: exists") + f" ({url})"
    return line, arn


def ensure_notification(s3: Any, settings: Settings, queue_arn: str) -> str:
    """Object-created events under the incoming prefix go to the queue; other configurations are kept."""
    bucket = settings.bucket
    ours = {
        "Id": NOTIFICATION_ID,
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": settings.incoming_prefix}]}},
    }
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    config.pop("ResponseMetadata", None)
    queues = config.get("QueueConfigurations", [])
    mine = [q for q in queues if q.get("Id") == NOTIFICATION_ID]
    if mine and _same_notification(mine[0], ours):
        return f"bucket {bucket}: notification unchanged"
    config["QueueConfigurations"] = [*(q for q in queues if q.get("Id") != NOTIFICATION_ID), ours]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    return f"bucket {bucket}: notification set (object created under {settings.incoming_prefix} to {queue_arn})"


def _same_notification(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """S3 may spell filter rule names in another case (prefix, Prefix)."""
    def rules(config: dict[str, Any]) -> list[tuple[str, str]]:
        return [(r["Name"].lower(), r["Value"]) for r in config.get("Filter", {}).get("Key", {}).get("FilterRules", [])]

    return (current.get("QueueArn") == wanted["QueueArn"] and current.get("Events") == wanted["Events"]
            and rules(current) == rules(wanted))


def ensure_topic(sns: Any, topic_arn: str) -> str:
    """The notifications' SNS topic (SNS_TOPIC_ARN): made by its name, which gives the existing topic's ARN
    where there is one; an ARN of another account or region than these credentials' is refused."""
    name = topic_arn.rsplit(":", 1)[-1]
    made = sns.create_topic(Name=name)["TopicArn"]
    if made != topic_arn:
        raise RuntimeError(f"SNS_TOPIC_ARN is {topic_arn}, but these credentials' topic {name} is {made}")
    return f"topic {name}: ready ({made})"


def bootstrap(*, s3: Any, dynamodb: Any, settings: Settings, sqs: Any = None, sns: Any = None) -> list[str]:
    """Make the bucket and table (and, given ``sqs``, the events queue; given ``sns``, the notifications'
    topic) ready; one line per step."""
    done = [
        ensure_bucket(s3, settings.bucket),
        ensure_table(dynamodb, settings.table),
        ensure_public_access_block(s3, settings.bucket),
        ensure_policy(s3, settings),
        ensure_cors(s3, settings.bucket),
    ]
    if sqs is not None and settings.events_queue:
        line, arn = ensure_queue(sqs, s3, settings)
        done += [line, ensure_notification(s3, settings, arn)]
    if sns is not None and settings.sns_topic_arn:
        done.append(ensure_topic(sns, settings.sns_topic_arn))
    for line in done:
        log.info("%s", line)
    return done


def main() -> None:
    import boto3

    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    lines = bootstrap(
        s3=session.client("s3", region_name=region),
        dynamodb=session.client("dynamodb", region_name=region),
        sqs=session.client("sqs", region_name=region),
        sns=session.client("sns", region_name=region),
        settings=Settings.from_env(),
    )
    print("\n".join(lines))
    if any(line.startswith("queue ") for line in lines):
        print("S3 events: set VIDEO_PIPELINE_EVENTS_QUEUE_URL to the queue's URL above for the video_events DAG")


if __name__ == "__main__":
    main()
