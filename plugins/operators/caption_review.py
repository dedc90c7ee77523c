"""Caption review as a human-in-the-loop task: Airflow's ApprovalOperator, filled with the transcript."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from video_contract.manifests import TranscribeManifest
from video_pipeline import review
from video_pipeline.config import Settings
from video_pipeline.notifications import Event, notify
from video_pipeline.planning import RunOptions
from video_pipeline.registration import Registration


class CaptionReviewOperator(ApprovalOperator):
    """A person approves the subtitles, approves them with edits, or rejects the video.

    It waits in Airflow's Required Actions with the transcript as its body and one text field, a line
    per subtitle. It skips itself when the run has no review (param ``review``) or the video no speech.
    An approval returns a ``review.ReviewAnswer``; with text, the reviewer's lines are written first for
    the captions stage. A rejection skips everything after it (captions, burn, package, publish) and
    marks the item ``rejected``: the run ends, not failed. With no answer within ``timeout_minutes`` the
    captions are published as they are (``on_timeout`` publish), or the task fails at once, without a
    retry that would only ask again (``fail``). With ``REVIEWERS`` set, only those users may answer. The
    wait and a rejection are sent as events (notifications.py).

    :param registration: register's XCom (templated)
    :param transcribe: the transcribe stage's manifest (templated)
    :param timeout_minutes: how long to wait for an answer; empty: ``REVIEW_TIMEOUT_MINUTES`` (templated)
    :param on_timeout: ``publish`` or ``fail``; empty: ``REVIEW_ON_TIMEOUT`` (templated)
    """

    template_fields = (*ApprovalOperator.template_fields, "registration", "transcribe", "timeout_minutes",
                       "on_timeout")

    def __init__(self, *, registration: Any, transcribe: Any, timeout_minutes: Any = None,
                 on_timeout: str | None = None, **kwargs: Any) -> None:
        # The DAG's params come in merged (source "dag"); the form shows only the task's own.
        params = kwargs.pop("params", None) or ParamsDict()
        params[review.FIELD] = _field("")
        # The settings' wait and answer on timeout; a run's own, from the templated fields, replace them in execute.
        settings = Settings.from_env()
        wait, defaults = review.timeout_policy(settings.review_timeout_minutes, settings.review_on_timeout)
        # REVIEWERS: only they may answer (HITL's assigned users, by user id: the name, for the simple auth manager).
        reviewers = [{"id": name, "name": name} for name in settings.reviewers] or None
        super().__init__(subject="Review the captions", params=params, response_timeout=wait, defaults=defaults,
                         assigned_users=reviewers, ignore_downstream_trigger_rules=True, **kwargs)
        self.registration = registration
        self.transcribe = transcribe
        self.timeout_minutes = timeout_minutes
        self.on_timeout = on_timeout

    def pre_execute(self, context: Any) -> None:
        """Nothing to review: skip before ``on_execute_callback`` tells the item the run waits for a reviewer."""
        super().pre_execute(context)
        options = RunOptions.from_params(context["params"], RunOptions(review=Settings.from_env().review))
        if not options.review:
            raise AirflowSkipException("this run has no caption review (param review)")
        if not TranscribeManifest.from_json(self.transcribe).speech:
            raise AirflowSkipException("no speech: no captions to review")

    def execute(self, context: Any) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        settings = Settings.from_env()
        transcript = TranscribeManifest.from_json(self.transcribe)
        # Read by ApprovalOperator.execute: the deadline, and the answer Airflow takes when it passes.
        self.response_timeout, self.defaults = self._timeout_policy(settings)
        cues = review.cue_texts(S3Hook(aws_conn_id=settings.aws_conn_id).get_conn(), transcript)
        self.body = review.body(cues, transcript.language_name or "speech")
        self.params[review.FIELD] = _field(review.field_text(cues))
        video = Registration.from_json(self.registration)
        notify(settings, Event.of("review_requested", video_id=video.video_id, source=video.source,
                                  run_id=context["run_id"], stage=self.task_id))
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from video_pipeline.status_callbacks import catalog

        settings = Settings.from_env()
        if event.get("error_type") == "timeout":
            minutes = self._timeout_policy(settings)[0].total_seconds() / 60
            raise AirflowFailException(f"nobody reviewed the captions within {minutes:g} minutes")
        video = Registration.from_json(self.registration)
        if "error" not in event and event.get("chosen_options") == [review.REJECT]:
            # Before the operator's own handling: on a rejection it ends the task by skipping what follows.
            rejected = review.ReviewAnswer.of(event)
            reason = f"captions rejected by {rejected.by or 'a reviewer'}"
            catalog(settings).set_status(
                video.video_id, "rejected", stage=self.task_id, owner_run=context["run_id"], reason=reason,
                caption_review=review.CaptionReview.of(rejected, None).to_json())
            notify(settings, Event.of("rejected", video_id=video.video_id, source=video.source,
                                      run_id=context["run_id"], stage=self.task_id, reason=reason))
        result = super().execute_complete(context, event)
        return review.ReviewAnswer.of(result, self._put_texts(settings, video, result)).to_json()

    def _put_texts(self, settings: Settings, video: Registration, result: Any) -> str | None:
        """The reviewer's lines for the captions stage (it keeps the cues they left as they were); None
        when the approval sent no text."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        text = (result.get("params_input") or {}).get(review.FIELD)
        if not text:
            return None
        lines = [line.strip() for line in text.strip().splitlines()]
        return review.put_texts(S3Hook(aws_conn_id=settings.aws_conn_id).get_conn(), settings, video.video_id, lines)

    def _timeout_policy(self, settings: Settings) -> tuple[timedelta, list[str] | None]:
        return review.timeout_policy(float(self.timeout_minutes or settings.review_timeout_minutes),
                                     self.on_timeout or settings.review_on_timeout)


def _field(text: str) -> Param:
    """The form's text field, prefilled with the subtitles, one per line."""
    return Param(text, type="string", format="multiline", source="task",
                 title="Subtitles", description="One line per subtitle, in order: edit the text, keep the lines.")
