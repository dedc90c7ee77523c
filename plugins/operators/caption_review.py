"""Caption review as a human-in-the-loop task: Airflow's ApprovalOperator, filled with the transcript."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from video_pipeline import review
from video_pipeline.config import Settings, listed


class CaptionReviewOperator(ApprovalOperator):
    """A person approves the subtitles, approves them with edits, or rejects the video.

    It waits in Airflow's Required Actions with the transcript as its body and one text field, a line
    per subtitle. A rejection skips everything after it (burn, package, publish) and marks the item
    ``rejected``: the run ends, not failed. With no answer within ``timeout_minutes`` the captions are
    published as they are (``on_timeout`` publish), or the task fails at once, without a retry that
    would only ask again (``fail``). With ``REVIEWERS`` set, only those users may answer.

    :param transcribe: the transcribe stage's manifest (templated)
    :param video_id: the video's id, for its item (templated)
    :param timeout_minutes: how long to wait for an answer; empty: ``REVIEW_TIMEOUT_MINUTES`` (templated)
    :param on_timeout: ``publish`` or ``fail``; empty: ``REVIEW_ON_TIMEOUT`` (templated)
    """

    template_fields = (*ApprovalOperator.template_fields, "transcribe", "video_id", "timeout_minutes", "on_timeout")

    def __init__(self, *, transcribe: Any, video_id: str, timeout_minutes: Any = None, on_timeout: str | None = None,
                 **kwargs: Any) -> None:
        # The DAG's params come in merged (source "dag"); the form shows only the task's own.
        params = kwargs.pop("params", None) or ParamsDict()
        params[review.FIELD] = _field("")
        # The settings' wait and answer on timeout (a misconfiguration fails the parse, saying why); a run's
        # own, from the templated fields, replace them in execute.
        settings = Settings.from_env()
        wait, defaults = review.timeout_policy(settings.review_timeout_minutes, settings.review_on_timeout)
        # REVIEWERS: only they may answer (HITL's assigned users, by user id: the name, for the simple auth manager).
        reviewers = [{"id": name, "name": name} for name in listed(settings.reviewers)] or None
        super().__init__(subject="Review the captions", params=params, response_timeout=wait, defaults=defaults,
                         assigned_users=reviewers, ignore_downstream_trigger_rules=True, **kwargs)
        self.transcribe = transcribe
        self.video_id = video_id
        self.timeout_minutes = timeout_minutes
        self.on_timeout = on_timeout

    def execute(self, context: Any) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        settings = Settings.from_env()
        # Read by ApprovalOperator.execute: the deadline, and the answer Airflow takes when it passes.
        self.response_timeout, self.defaults = self._timeout_policy(settings)
        cues = review.cue_texts(S3Hook(aws_conn_id=settings.aws_conn_id).get_conn(), self.transcribe)
        self.body = review.body(cues, self.transcribe.get("language_name") or "speech")
        self.params[review.FIELD] = _field(review.field_text(cues))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        # Before the operator's own handling: on a rejection it ends the task by skipping what follows.
        if event.get("error_type") == "timeout":
            from airflow.sdk.exceptions import AirflowFailException

            minutes = self._timeout_policy(Settings.from_env())[0].total_seconds() / 60
            raise AirflowFailException(f"nobody reviewed the captions within {minutes:g} minutes")
        if "error" not in event and event.get("chosen_options") == [review.REJECT]:
            from video_pipeline.tracking import catalog

            who = (event.get("responded_by_user") or {}).get("name") or "a reviewer"
            catalog(Settings.from_env()).set_status(
                self.video_id, "rejected", stage=self.task_id, reason=f"captions rejected by {who}",
                owner_run=context["run_id"], caption_review=review.record(event, None))
        return super().execute_complete(context, event)

    def _timeout_policy(self, settings: Settings) -> tuple[timedelta, list[str] | None]:
        return review.timeout_policy(self.timeout_minutes or settings.review_timeout_minutes,
                                     self.on_timeout or settings.review_on_timeout)


def _field(text: str) -> Param:
    """The form's text field, prefilled with the subtitles, one per line."""
    return Param(text, type="string", format="multiline", source="task",
                 title="Subtitles", description="One line per subtitle, in order: edit the text, keep the lines.")
