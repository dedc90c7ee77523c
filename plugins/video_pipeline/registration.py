"""What register found out about a run's video: the register task's XCom, read by every later task."""

from __future__ import annotations

import dataclasses

from video_contract.records import Record


@dataclasses.dataclass(frozen=True, kw_only=True)
class Registration(Record):
    KIND = "registration"
    video_id: str  # from bucket, key and ETag (identity.py)
    bucket: str
    key: str
    etag: str  # the version every stage reads (--source-etag)
    name: str | None  # the upload page's file name, the page's title; None for other objects
    source: str  # s3://bucket/key
    work: str  # s3://bucket/work/<video id>: the stages' outputs, one prefix each
    done: bool  # published already with this ETag, and not forced: the run does nothing
    key_uri: str | None = None  # encrypt: the video's private content key object (keys.py)

    def stage_dest(self, stage: str) -> str:
        return f"{self.work}/{stage}/"
