"""A caption review's answer as the review task returns it, and what the video's item keeps of it."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from video_contract.manifests import CaptionEdits, CaptionsManifest
from video_pipeline.review import APPROVE, REJECT, CaptionReview, ReviewAnswer

CAPTIONS = CaptionsManifest.from_json(json.loads((Path(__file__).parent / "fixtures" / "manifests.json")
                                                 .read_text())["captions"])
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TEXTS = "s3://media/work/0123456789abcdef/review/texts.json"


def result(chosen: str, user: str | None) -> dict[str, object]:
    """ApprovalOperator's result, as its execute_complete returns it."""
    return {"chosen_options": [chosen], "params_input": {}, "responded_at": AT,
            "responded_by_user": {"id": user, "name": user} if user else None}


def test_an_answer_says_who_decided_what_and_where_their_lines_are():
    answer = ReviewAnswer.of(result(APPROVE, "editor"), TEXTS)
    assert answer == ReviewAnswer(decision="approved", by="editor", at="2026-01-02 03:04:05+00:00", timed_out=False,
                                  texts=TEXTS)
    assert ReviewAnswer.from_json(answer.to_json()) == answer  # the XCom, read back as captions' planning reads it
    assert ReviewAnswer.of(result(REJECT, "chief")).decision == "rejected"


def test_an_answer_nobody_gave_is_a_timeout():
    answer = ReviewAnswer.of(result(APPROVE, None))  # REVIEW_ON_TIMEOUT=publish: Airflow takes the default
    assert (answer.by, answer.timed_out, answer.texts) == (None, True, None)


def test_the_item_says_edited_when_the_captions_stage_changed_cues():
    approved = ReviewAnswer.of(result(APPROVE, "editor"), TEXTS)
    assert CAPTIONS.review.edited_cues == []  # the fixture's reviewer changed nothing
    assert CaptionReview.of(approved, CAPTIONS).to_json() == {
        "decision": "approved", "by": "editor", "at": "2026-01-02 03:04:05+00:00", "timed_out": False,
        "edited_cues": []}
    edited = dataclasses.replace(CAPTIONS, review=CaptionEdits(edited_cues=[0, 2], cues=3))
    assert CaptionReview.of(approved, edited).to_json()["decision"] == "edited"
    assert CaptionReview.of(approved, None).decision == "approved"  # approved as transcribed: no captions stage
    rejected = CaptionReview.of(ReviewAnswer.of(result(REJECT, "chief")), None)
    assert (rejected.decision, rejected.by, rejected.edited_cues) == ("rejected", "chief", [])
