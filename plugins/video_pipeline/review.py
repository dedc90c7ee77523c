"""Caption review: what the reviewer sees and edits, and what their answer means for the run.

The reviewer gets the transcript as a list of timed lines (the task's body, in Airflow's Required
Actions) and one text field with a line per subtitle, prefilled; they approve, approve with edits,
or reject. An edited text goes to the work prefix as JSON for the captions stage, which rewrites the
subtitle files; the decision is kept in the video's item (``caption_review``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from video_pipeline.config import Settings

APPROVE, REJECT = "Approve", "Reject"  # ApprovalOperator's two options
FIELD = "captions"
ON_TIMEOUT = ("fail", "publish")


def timeout_policy(minutes: Any, on_timeout: str) -> tuple[timedelta, list[str] | None]:
    """How long the run waits for a reviewer, and the answer taken when nobody gave one: an approval of
    the captions as transcribed (``publish``) or none, and the task fails (``fail``)."""
    if on_timeout not in ON_TIMEOUT:
        raise ValueError(f"caption review on timeout must be one of {', '.join(ON_TIMEOUT)}, not {on_timeout!r}")
    wait = timedelta(minutes=float(minutes))
    if wait <= timedelta(0):
        raise ValueError(f"caption review timeout must be more than 0 minutes, not {minutes!r}")
    return wait, [APPROVE] if on_timeout == "publish" else None


def cue_texts(s3: Any, transcribe: dict[str, Any]) -> list[dict[str, Any]]:
    """The transcript's cues (start, end, lines), from the file transcribe wrote for edits."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket, key = S3Hook.parse_s3_url(transcribe["artifacts"][transcribe["cues_file"]])
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def body(cues: list[dict[str, Any]], language: str) -> str:
    """The transcript for the reviewer, one timed line per subtitle (Markdown)."""
    lines = [f"The {language} subtitles of this video, {len(cues)} of them. Approve them, edit the text below "
             "(one line per subtitle: keep the count), or reject the video: it is then not published.", ""]
    lines += [f"{n + 1}. `{_clock(c['start'])}–{_clock(c['end'])}` {' '.join(c['lines'])}" for n, c in enumerate(cues)]
    return "\n".join(lines)


def field_text(cues: list[dict[str, Any]]) -> str:
    return "\n".join(" ".join(c["lines"]) for c in cues)


def put_texts(s3: Any, settings: Settings, video_id: str, texts: list[str]) -> str:
    """The edited lines where the captions stage reads them; their URI."""
    key = f"{settings.work_prefix}{video_id}/review/texts.json"
    s3.put_object(Bucket=settings.bucket, Key=key, Body=json.dumps({"texts": texts}, ensure_ascii=False).encode(),
                  ContentType="application/json")
    return f"s3://{settings.bucket}/{key}"


def record(answer: dict[str, Any] | None, captions: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the item keeps of the review: the decision, by whom and when, and which cues were edited."""
    if not answer:
        return None
    edited = (captions or {}).get("review", {}).get("edited_cues", [])
    decision = "rejected" if answer["chosen_options"] == [REJECT] else "edited" if edited else "approved"
    user = answer.get("responded_by_user") or {}
    return {"decision": decision, "by": user.get("name") or None, "at": str(answer.get("responded_at") or ""),
            "timed_out": not user, "edited_cues": edited}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
