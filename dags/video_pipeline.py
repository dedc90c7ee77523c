"""video_pipeline: one run turns one S3 video into a published page and a DynamoDB item."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import AssetAlias, Param, dag, task

from operators.caption_review import CaptionReviewOperator
from operators.video_stage import video_stage
from video_contract.stages import Stage
from video_pipeline import model_params, run_params, status_callbacks
from video_pipeline.config import Settings
from video_pipeline.planning import RunOptions
from video_pipeline.run_deadline import run_deadline

SETTINGS = Settings.from_env()
SOURCES = run_params.Sources.from_settings(SETTINGS)  # what a run may be of; a misconfiguration fails the parse
DEFAULTS = RunOptions(review=SETTINGS.review)  # a switch left empty (null) takes its default here
PUBLISHED = AssetAlias("video-pipeline-published")
# Only video_key must be given. Stage options left empty (null) take the worker's default
# (VIDEO_WORKER_*), one source for each; the bucket set to null takes the default here.
OPTIONAL_TEXT = ["null", "string"]
Xcom = dict[str, Any] | None  # an upstream task's XCom; None where it skipped


def _switch_param(name: str, description: str) -> Param:
    return Param(getattr(DEFAULTS, name), type=["boolean", "null"], description=description)


@dag(
    dag_id="video_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=8,
    deadline=run_deadline(SETTINGS),
    tags=["video", "media"],
    doc_md=__doc__
    + """

Trigger with a video key (UI, `airflow dags trigger video_pipeline -c '{"video_key": "incoming/a.mp4"}'`
or the REST API). The run registers the object (its id comes from bucket, key and ETag), probes
it, then transcodes, transcribes (with an English track for other languages) and detects animals
in parallel, makes previews (the poster prefers a frame with a detected animal), burns the
subtitles in, makes chapters, and publishes the page. With `review`, a person approves, edits or rejects the
captions first, in Airflow's Required Actions; a rejected video is not published. A run takes only a video
under the source prefixes of the source buckets (`VIDEO_PIPELINE_SOURCE_*`), and where review is the
default (`VIDEO_PIPELINE_REVIEW=true`) it may not turn the review off, shorten it or publish unanswered.
An object already published with the same ETag is a no-op unless `force`. Bad input fails at once,
without retries: the item says why and the source is copied to the quarantine prefix.

A run has one task per stage (each plans its own worker call from the run's params, `register`'s
XCom and the manifests of the stages before it: `video_pipeline.planning`; a stage with nothing to
do skips) and `publish`, and two tasks besides:

- `register` checks the params, identifies the object and queues its item; every later task reads
  its XCom, so it runs first. It ends a run at once when the object is published already (it skips
  all below);
- `review_captions` waits for a person's answer (it skips itself without `review` or speech), and a
  rejection skips everything below it.
""",
    default_args={
        "owner": "video-pipeline",
        "retries": SETTINGS.retries,
        "retry_delay": timedelta(seconds=SETTINGS.retry_delay_s),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": status_callbacks.on_task_failure,
    },
    params={
        # Checked again in register, with what a schema cannot say (run_params.py).
        "video_key": Param(type="string", maxLength=run_params.MAX_KEY_BYTES, pattern=SOURCES.key_pattern,
                           description="S3 key of the video to process, under "
                                       f"{', '.join(SOURCES.prefixes)} (SOURCE_PREFIXES)"),
        "bucket": Param(SETTINGS.bucket, type=OPTIONAL_TEXT, enum=[*SOURCES.buckets, None],
                        description="S3 bucket of the video (SOURCE_BUCKETS)"),
        "force": _switch_param("force", "process again even if already published"),
        "ladder": Param(None, type=OPTIONAL_TEXT, pattern=r"^[1-9]\d*[02468](,[1-9]\d*[02468])*$",
                        description="rendition short sides in pixels, e.g. 1080,720,480,360 (never above the "
                                    "source); empty: the worker's ladder"),
        "transcribe": _switch_param("transcribe", "transcribe speech into subtitles"),
        "whisper_model": Param(None, type=OPTIONAL_TEXT, enum=[*model_params.allowed(SETTINGS, "whisper_model"), None],
                               description="Whisper model, one of WHISPER_MODELS; empty: the worker's model"),
        "language": Param(None, type=OPTIONAL_TEXT, pattern=r"^[a-z]{2,3}$",
                          description="declared language code (e.g. en); empty: detect the language"),
        "translate": _switch_param("translate", "an English subtitle track for speech in another language "
                                                "(needs a multilingual Whisper model)"),
        "review": _switch_param("review", "a person approves, edits or rejects the captions (Required Actions) "
                                          "before they are burned in and published"),
        "review_timeout_minutes": Param(None, type=["null", "number"], exclusiveMinimum=0,
                                        description="how long the review waits for an answer; empty: "
                                                    f"{SETTINGS.review_timeout_minutes:g} (REVIEW_TIMEOUT_MINUTES)"),
        "review_on_timeout": Param(None, type=OPTIONAL_TEXT, pattern="^(publish|fail)$",
                                   description="without an answer in time: publish the captions as transcribed, "
                                               f"or fail; empty: {SETTINGS.review_on_timeout} (REVIEW_ON_TIMEOUT)"),
        "detect": _switch_param("detect", "detect animals"),
        "detect_model": Param(None, type=OPTIONAL_TEXT, enum=[*model_params.allowed(SETTINGS, "detect_model"), None],
                              description="YOLO weights, one of DETECT_MODELS; empty: the worker's model"),
        "detect_classes": Param(None, type=OPTIONAL_TEXT, pattern=r"^[a-z ]+(,[a-z ]+)*$",
                                description="COCO class names to keep, comma-separated; empty: the worker's "
                                            "animal classes"),
        "detect_fps": Param(None, type=["null", "number"], exclusiveMinimum=0, maximum=30,
                            description="frames sampled per second; empty: the worker's rate"),
        "previews": _switch_param("previews", "poster, GIFs, storyboard, labelling frames"),
        "burn": _switch_param("burn", "burn subtitles into the published video"),
        "chapters": _switch_param("chapters", "cut the video into shots and group them into titled chapters"),
        "package": _switch_param("package", "HLS and MPEG-DASH streams from the ladder"),
        "encrypt": _switch_param("encrypt", "encrypt the streams (CENC, ClearKey); the key stays private"),
    },
)
def video_pipeline() -> None:
    # A short circuit: ending a run that has nothing to do takes no task of its own on every run's path.
    @task.short_circuit(task_id=status_callbacks.REGISTER_TASK_ID)
    def register(params: dict[str, Any], run_id: str, dag_run: Any = None) -> dict[str, Any] | None:
        """Check the params, identify the object, queue its item, and (encrypt) make its key. Published
        already with this ETag (and not force): nothing, which skips the whole run."""
        from video_pipeline.register import register_video

        conf = dag_run.conf if dag_run else None
        video = register_video(SETTINGS, SOURCES, params, run_id=run_id, conf=conf)
        return None if video.done else video.to_json()

    @task(trigger_rule="none_failed", outlets=[PUBLISHED], max_active_tis_per_dag=1)  # one index writer
    def publish(
        registration: dict[str, Any], answer: Xcom, probe: Xcom, transcode: Xcom, transcribe: Xcom, captions: Xcom,
        detect: Xcom, previews: Xcom, burn: Xcom, package: Xcom, chapters: Xcom, run_id: str,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        """Render and upload the page, upsert the item, refresh the index, record the assets."""
        from airflow.sdk import Asset

        from video_pipeline.publish_run import publish_run, run_manifests

        manifests = run_manifests(probe=probe, transcode=transcode, transcribe=transcribe, captions=captions,
                                  detect=detect, previews=previews, burn=burn, package=package, chapters=chapters)
        result = publish_run(SETTINGS, registration=registration, manifests=manifests, answer=answer, run_id=run_id)
        for key in (result.page_key, result.video_key):
            outlet_events[PUBLISHED].add(Asset(f"s3://{SETTINGS.bucket}/{key}"))
        return result.to_json()

    video = register()
    # Every stage reads register's XCom: its source (pinned to the ETag register saw), its output prefix.
    stage_defaults: dict[str, Any] = {"registration": video, "on_execute_callback": status_callbacks.on_stage_start}
    probe = video_stage(stage=Stage.PROBE, **stage_defaults)
    # Every later stage's execution_timeout follows the duration that probe measured.
    probed = [probe.output]
    transcode = video_stage(stage=Stage.TRANSCODE, upstream=probed, **stage_defaults)
    transcribe = video_stage(stage=Stage.TRANSCRIBE, upstream=probed, **stage_defaults)
    detect = video_stage(stage=Stage.DETECT, upstream=probed, **stage_defaults)
    # After detect: the poster prefers a frame with an animal that detect followed.
    previews = video_stage(stage=Stage.PREVIEWS, upstream=[*probed, detect.output], trigger_rule="none_failed",
                           **stage_defaults)

    # Caption review (param review): a person answers in Required Actions; a rejection skips all below it.
    review = CaptionReviewOperator(
        task_id="review_captions", registration=video, transcribe=transcribe.output,
        timeout_minutes="{{ params.review_timeout_minutes or '' }}", on_timeout="{{ params.review_on_timeout or '' }}",
        on_execute_callback=status_callbacks.on_review_start,
    )
    captions = video_stage(stage=Stage.CAPTIONS, upstream=[*probed, transcribe.output],
                           review_answer=review.output, trigger_rule="none_failed", **stage_defaults)
    # burn and package use the final transcript: the reviewed captions when there was a review, else transcribe's.
    final = [*probed, transcode.output, transcribe.output, captions.output]
    burn = video_stage(stage=Stage.BURN, upstream=final, trigger_rule="none_failed", **stage_defaults)
    package = video_stage(stage=Stage.PACKAGE, upstream=final, trigger_rule="none_failed", **stage_defaults)
    # Beside burn and package: shots of the smallest rendition, chapters at the final transcript's pauses.
    chapters = video_stage(stage=Stage.CHAPTERS, upstream=final, trigger_rule="none_failed", **stage_defaults)

    publish(registration=video, answer=review.output, probe=probe.output, transcode=transcode.output,
            transcribe=transcribe.output, captions=captions.output, detect=detect.output, previews=previews.output,
            burn=burn.output, package=package.output, chapters=chapters.output)


video_pipeline()
