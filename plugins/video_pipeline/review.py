"""Caption review: what the reviewer sees and edits, and what their answer means for the run.

The reviewer gets the transcript as a list of timed lines (the task's body, in Airflow's Required
Actions) and one text field with a line per subtitle, prefilled; they approve, approve with edits,
or reject. An edited text goes to the work prefix as JSON for the captions stage, which rewrites the
subtitle files; the decision is kept in the video's item (``caption_review``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from video_contract.manifests import CaptionsManifest, Cue, ReviewTexts, TranscribeManifest, read_cues
from video_contract.records import Record

if TYPE_CHECKING:
    from video_pipeline.config import Settings

APPROVE, REJECT = "Approve", "Reject"  # ApprovalOperator's two options
APPROVED, EDITED, REJECTED = "approved", "edited", "rejected"  # the decisions an item records
FIELD = "captions"
ON_TIMEOUT = ("fail", "publish")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReviewAnswer(Record):
    """The review task's XCom: the reviewer's decision, and their lines for the captions stage."""

    KIND = "review answer"
    decision: str  # APPROVED or REJECTED
    by: str | None  # the reviewer's name; None when the time ran out and the default answer was taken
    at: str  # when the answer came
    timed_out: bool
    texts: str | None  # the URI of the reviewer's lines (put_texts); None: they sent no text

    @classmethod
    def of(cls, result: Mapping[str, Any], texts: str | None = None) -> ReviewAnswer:
        """From ApprovalOperator's result (chosen_options, responded_by_user, responded_at)."""
        user = result.get("responded_by_user") or {}
        return cls(decision=REJECTED if result["chosen_options"] == [REJECT] else APPROVED,
                   by=user.get("name") or None, at=str(result.get("responded_at") or ""), timed_out=not user,
                   texts=texts)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptionReview(Record):
    """What the video's item keeps of its review (``caption_review``)."""

    KIND = "caption review"
    decision: str  # APPROVED, EDITED (approved with changed cues) or REJECTED
    by: str | None
    at: str
    timed_out: bool
    edited_cues: list[int]  # 0-based numbers of the cues whose text the reviewer changed

    @classmethod
    def of(cls, answer: ReviewAnswer, captions: CaptionsManifest | None) -> CaptionReview:
        edited = captions.review.edited_cues if captions else []
        decision = EDITED if answer.decision == APPROVED and edited else answer.decision
        return cls(decision=decision, by=answer.by, at=answer.at, timed_out=answer.timed_out, edited_cues=edited)


def timeout_policy(minutes: float, on_timeout: str) -> tuple[timedelta, list[str] | None]:
    """How long the run waits for a reviewer, and the answer taken when nobody gave one: an approval of
    the captions as transcribed (``publish``) or none, and the task fails (``fail``)."""
    if on_timeout not in ON_TIMEOUT:
        raise ValueError(f"caption review on timeout must be one of {', '.join(ON_TIMEOUT)}, not {on_timeout!r}")
    wait = timedelta(minutes=minutes)
    if wait <= timedelta(0):
        raise ValueError(f"caption review timeout must be more than 0 minutes, not {minutes!r}")
    return wait, [APPROVE] if on_timeout == "publish" else None


def cue_texts(s3: Any, transcript: TranscribeManifest) -> list[Cue]:
    """The transcript's cues (start, end, lines), from the file transcribe wrote for edits."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket, key = S3Hook.parse_s3_url(transcript.uri(transcript.cues_file))
    return read_cues(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def body(cues: list[Cue], language: str) -> str:
    """The transcript for the reviewer, one timed line per subtitle (Markdown)."""
    lines = [f"The {language} subtitles of this video, {len(cues)} of them. Approve them, edit the text below "
             "(one line per subtitle: keep the count), or reject the video: it is then not published.", ""]
    lines += [f"{n + 1}. `{_clock(c.start)}–{_clock(c.end)}` {' '.join(c.lines)}" for n, c in enumerate(cues)]
    return "\n".join(lines)


def field_text(cues: list[Cue]) -> str:
    return "\n".join(" ".join(c.lines) for c in cues)


def put_texts(s3: Any, settings: Settings, video_id: str, texts: list[str]) -> str:
    """The edited lines where the captions stage reads them (its ``--texts``); their URI."""
    key = f"{settings.work_prefix}{video_id}/review/texts.json"
    s3.put_object(Bucket=settings.bucket, Key=key, ContentType="application/json",
                  Body=json.dumps(ReviewTexts(texts=texts).to_json(), ensure_ascii=False).encode())
    return f"s3://{settings.bucket}/{key}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
