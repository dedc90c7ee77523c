"""Which S3 objects need a ``video_pipeline`` run, and under which run id.

Polling (``video_discovery``), S3 events (``video_events``) and sweeps
(``video_backfill``) all decide here, so a video gets one run whichever path
sees it first, however often it is seen: the run id derives from the video id
(bucket, key, ETag), the item is claimed ``queued`` with a conditional write,
and a run that already exists is skipped, not started again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from video_pipeline.catalog import VideoCatalog
from video_pipeline.identity import video_id
from video_pipeline.run_params import RunParamError, Sources

log = logging.getLogger(__name__)

PIPELINE_DAG_ID = "video_pipeline"
Mode = Literal["new", "missing", "reprocess"]


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str

    @property
    def video_id(self) -> str:
        return video_id(self.bucket, self.key, self.etag)


def is_video_key(key: str, extensions: Collection[str]) -> bool:
    """By name only, case-insensitively; whether it really is a video is for probe to say."""
    name = key.rsplit("/", 1)[-1]
    if not name:  # a "folder" marker
        return False
    return "*" in extensions or ("." in name and name.rsplit(".", 1)[-1].lower() in extensions)


def within_sources(sources: Sources, bucket: str, key: str) -> bool:
    """Whether a run may take the object (run_params.py): a run its register would refuse is never started,
    and its item never claimed; one that is not is logged with the reason."""
    try:
        sources.check(bucket, key)
    except RunParamError as refused:
        log.warning("no run for an object outside the sources: %s", refused)
        return False
    return True


def list_objects(s3: Any, bucket: str, prefix: str, *, start_after: str | None = None) -> Iterator[dict[str, Any]]:
    """``list_objects_v2`` entries under the prefix, in key order, after ``start_after``."""
    kwargs = {"Bucket": bucket, "Prefix": prefix, **({"StartAfter": start_after} if start_after else {})}
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from page.get("Contents", [])


def select_listed(entries: Iterable[Mapping[str, Any]], bucket: str, extensions: Collection[str], *, sources: Sources,
                  since: datetime | None = None, until: datetime | None = None) -> list[S3Object]:
    """The listing's videos whose LastModified is in [since, until), those a run may take."""
    return [
        S3Object(bucket, entry["Key"], entry["ETag"].strip('"'))
        for entry in entries
        if is_video_key(entry["Key"], extensions)
        and (since is None or entry["LastModified"] >= since)
        and (until is None or entry["LastModified"] < until)
        and within_sources(sources, bucket, entry["Key"])
    ]


def keys_from_messages(bodies: Iterable[str]) -> list[tuple[str, str]]:
    """(bucket, key) of every object-created record in S3 event messages, direct or through SNS."""
    found: list[tuple[str, str]] = []
    for body in bodies:
        try:
            event = json.loads(body)
            if "Records" not in event and isinstance(event.get("Message"), str):  # S3 -> SNS -> SQS
                event = json.loads(event["Message"])
        except (TypeError, ValueError):
            log.warning("ignoring a message that is not an S3 event: %.200s", body)
            continue
        if event.get("Event") == "s3:TestEvent":  # sent once when the notification is configured
            continue
        for record in event.get("Records", []):
            if record.get("eventSource") != "aws:s3" or not record.get("eventName", "").startswith("ObjectCreated"):
                continue
            s3 = record["s3"]
            found.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return list(dict.fromkeys(found))


def acknowledge(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Delete handled SQS messages, 10 a call. One whose receipt has expired was received again
    (its visibility timeout passed) and is deleted by the run that got it then."""
    for start in range(0, len(messages), 10):
        batch = enumerate(messages[start:start + 10])
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in batch]
        failed = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        for failure in failed:
            log.warning("message not deleted (received again since?): %s", failure.get("Message"))


@dataclass(frozen=True)
class PlannedRun:
    """A run to start: the object, what kind of run (``video``, ``retry``, ``reprocess``), its run id,
    and its params besides the object (a retry repeats the failed run's: a review it asked for, a model)."""

    obj: S3Object
    kind: str
    run_id: str
    options: dict[str, Any] = field(default_factory=dict)


def run_id(kind: str, vid: str, tag: str | None = None) -> str:
    """``video__<id>`` for a video's first run; retries and reprocessing carry their sweep's tag."""
    return f"{kind}__{vid}" + (f"__{tag}" if tag else "")


def sweep_tag(root_run_id: str) -> str:
    """Short and stable for one sweep (all its pages), different for the next one."""
    return hashlib.sha256(root_run_id.encode()).hexdigest()[:8]


def _kind(item: dict[str, Any] | None, mode: Mode) -> str | None:
    """The kind of run this video needs, or None when it needs none."""
    if mode == "reprocess":
        return "reprocess"
    if item is None:
        return "video"
    if mode == "missing":
        if item.get("status") == "queued" and not item.get("dag_run_id"):
            return "video"  # claimed, but its run never started: started now, or skipped if it exists
        if item.get("status") == "failed" and not item.get("failure_permanent"):
            return "retry"
    return None


def plan(objects: Iterable[S3Object], catalog: VideoCatalog, *, mode: Mode,
         tag: str | None = None) -> list[PlannedRun]:
    """The run for each object that needs a run, in the objects' order, each video once.

    ``new``: videos no trigger has claimed. ``missing``: also claimed videos whose run never
    started, and transient failures. ``reprocess``: every video, published or not.
    """
    unique = list({o.video_id: o for o in objects}.values())
    items = catalog.get_many([o.video_id for o in unique])
    planned = []
    for obj in unique:
        item = items.get(obj.video_id)
        kind = _kind(item, mode)
        if kind:
            options = (item.get("run_options") or {}) if kind == "retry" and item else {}
            planned.append(PlannedRun(obj, kind, run_id(kind, obj.video_id, tag if kind != "video" else None),
                                      options))
    return planned


def new_uploads(entries: Iterable[Mapping[str, Any]], catalog: VideoCatalog, *, bucket: str,
                extensions: Collection[str], sources: Sources, since: datetime) -> list[PlannedRun]:
    """The listing's videos modified since ``since`` that a run may take and no trigger has claimed, with
    their runs: what video_discovery's sensor waits for, and then starts."""
    return plan(select_listed(entries, bucket, extensions, sources=sources, since=since), catalog, mode="new")


def plan_page(objects: list[S3Object], catalog: VideoCatalog, *, mode: Mode, tag: str | None,
              size: int, chunk: int = 500) -> tuple[list[PlannedRun], bool]:
    """Plan at most ``size`` runs, looking items up a chunk at a time; True when more may follow."""
    page: list[PlannedRun] = []
    for start in range(0, len(objects), chunk):
        page += plan(objects[start:start + chunk], catalog, mode=mode, tag=tag)
        if len(page) >= size:
            return page[:size], len(page) > size or start + chunk < len(objects)
    return page, False


def parse_bound(value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; UTC unless it says otherwise."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def within_limit(planned: list[PlannedRun], limit: int) -> list[PlannedRun]:
    """The first ``limit`` (Airflow's ``max_map_length``); the rest stay unclaimed for the next pass."""
    if len(planned) > limit:
        log.warning("%d video(s) over the map length limit of %d are left for the next pass: %s",
                    len(planned) - limit, limit, ", ".join(p.obj.key for p in planned[limit:][:20]))
    return planned[:limit]


def claim_runs(planned: list[PlannedRun], catalog: VideoCatalog, *,
               discovered_by: str) -> list[dict[str, Any]]:
    """Mark each planned video ``queued``; return TriggerDagRunOperator kwargs, one per run."""
    runs: list[dict[str, Any]] = []
    for run in planned:
        obj = run.obj
        source = {"source_bucket": obj.bucket, "source_key": obj.key, "source_etag": obj.etag,
                  "discovered_by": discovered_by}
        if run.kind == "video":
            catalog.claim(obj.video_id, **source)  # loses to a concurrent trigger: its run id is ours
        else:
            catalog.set_status(obj.video_id, "queued", dag_run_id=None, **source)
        runs.append({
            "trigger_run_id": run.run_id,
            "conf": {**run.options, "video_key": obj.key, "bucket": obj.bucket, "force": run.kind == "reprocess"},
        })
    log.info("%d run(s) to start: %s", len(runs), ", ".join(r["trigger_run_id"] for r in runs) or "none")
    return runs
