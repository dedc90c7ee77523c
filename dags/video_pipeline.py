"""video_pipeline: one run turns one S3 video into a published page and a DynamoDB item."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import AssetAlias, AsyncCallback, DeadlineAlert, DeadlineReference, Param, dag, task
from operators.caption_review import CaptionReviewOperator
from operators.video_stage import video_stage
from video_pipeline import model_params, run_params, tracking
from video_pipeline.config import Settings

SETTINGS = Settings.from_env()
SOURCES = run_params.Sources.from_settings(SETTINGS)  # what a run may be of; a misconfiguration fails the parse
PUBLISHED = AssetAlias("video-pipeline-published")
# Only video_key must be given. Stage options left empty (null) take the worker's default
# (VIDEO_WORKER_*), one source for each; a switch or the bucket set to null takes the default here.
OPTIONAL_TEXT = ["null", "string"]
RUN_TARGET = ("video_key", "bucket", "force")  # what a run is of; every other param is how to run it
SWITCHES = {"force": False, "transcribe": True, "translate": True, "review": SETTINGS.review.lower() == "true",
            "detect": True, "previews": True, "burn": True, "package": True, "encrypt": False}


def _switch_param(name: str, description: str) -> Param:
    return Param(SWITCHES[name], type=["boolean", "null"], description=description)


def _switch(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    return SWITCHES[name] if value is None else bool(value)


def _options(**values: Any) -> list[str]:
    """CLI options for the params that were given; the rest keep the worker's defaults."""
    return [arg for name, value in values.items() if value not in (None, "") for arg in (f"--{name}", str(value))]


def _run_deadline() -> DeadlineAlert | None:
    """A run unfinished this long after it was queued marks its item stuck (``stuck_since``).

    None when set to 0, and under ``airflow dags test``: Airflow 3.3's ``dag.test()`` takes the
    DAG's alerts for their database ids when the run ends, and fails a run that succeeded.
    """
    minutes = float(SETTINGS.run_deadline_minutes)
    if minutes <= 0 or sys.argv[1:3] == ["dags", "test"]:
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(minutes=minutes),
                         callback=AsyncCallback(tracking.flag_stuck_run))


def _subtitle_tracks(transcribe: dict[str, Any], fmt: str) -> list[str]:
    """``--subtitles LANG=URI`` for the transcript's track, then its English translation if there is one."""
    tracks = [(transcribe.get("language") or "und", transcribe["subtitles"][fmt])]
    if translation := transcribe.get("translation"):
        tracks.append((translation["language"], translation["subtitles"][fmt]))
    return [arg for language, name in tracks for arg in ("--subtitles", f"{language}={transcribe['artifacts'][name]}")]


def _final(transcribe: dict[str, Any] | None, captions: dict[str, Any] | None) -> dict[str, Any] | None:
    """The transcript the later stages use: the reviewed captions when there was a review, else transcribe's."""
    return captions or transcribe


def _register_value(key: str) -> str:
    return "{{ ti.xcom_pull(task_ids='%s', key='%s') }}" % (tracking.REGISTER_TASK_ID, key)


@dag(
    dag_id="video_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=8,
    deadline=_run_deadline(),
    tags=["video", "media"],
    doc_md=__doc__
    + """

Trigger with a video key (UI, `airflow dags trigger video_pipeline -c '{"video_key": "incoming/a.mp4"}'`
or the REST API). The run registers the object (its id comes from bucket, key and ETag), probes
it, then transcodes, transcribes (with an English track for other languages) and detects animals
in parallel, makes previews (the poster prefers a frame with a detected animal), burns the
subtitles in, and publishes the page. With `review`, a person approves, edits or rejects the
captions first, in Airflow's Required Actions; a rejected video is not published. A run takes only a video
under the source prefixes of the source buckets (`VIDEO_PIPELINE_SOURCE_*`), and where review is the
default (`VIDEO_PIPELINE_REVIEW=true`) it may not turn the review off, shorten it or publish unanswered.
An object already published with the same ETag is a no-op unless `force`. Bad input fails at once,
without retries: the item says why and the source is copied to the quarantine prefix.
""",
    default_args={
        "owner": "video-pipeline",
        "retries": int(SETTINGS.retries),
        "retry_delay": timedelta(seconds=float(SETTINGS.retry_delay_s)),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": tracking.on_task_failure,
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
                                                    f"{SETTINGS.review_timeout_minutes} (REVIEW_TIMEOUT_MINUTES)"),
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
        "package": _switch_param("package", "HLS and MPEG-DASH streams from the ladder"),
        "encrypt": _switch_param("encrypt", "encrypt the streams (CENC, ClearKey); the key stays private"),
    },
)
def video_pipeline() -> None:
    @task(task_id=tracking.REGISTER_TASK_ID, multiple_outputs=True)
    def register(params: dict[str, Any], run_id: str, dag_run: Any = None) -> dict[str, Any]:
        """Identify the object, decide whether there is work, and plan each stage's options."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk.exceptions import AirflowFailException

        from video_pipeline.identity import video_id
        from video_pipeline.uploads import uploaded_name

        try:  # before anything is read: the schema checked when the run was created, this checks again
            run_params.check_run(SETTINGS, SOURCES, params)
            model_params.check(SETTINGS, params)
        except run_params.RunParamError as refused:
            raise AirflowFailException(str(refused)) from refused
        bucket, key = params.get("bucket") or SETTINGS.bucket, params["video_key"]
        head = S3Hook(aws_conn_id=SETTINGS.aws_conn_id).head_object(key, bucket)
        if head is None:
            raise AirflowFailException(f"s3://{bucket}/{key} does not exist")
        etag = head["ETag"].strip('"')
        vid = video_id(bucket, key, etag)
        catalog = tracking.catalog(SETTINGS)
        item = catalog.get(vid)
        done = bool(item and item.get("status") == "published" and not _switch(params, "force"))
        if not done:
            # A sweep that retries a failure starts the retry with these options (review, model, ...).
            options = {k: v for k, v in (dag_run.conf or {}).items()
                       if k in params and k not in RUN_TARGET and v is not None}
            catalog.set_status(vid, "queued", stage=None, source_bucket=bucket, source_key=key,
                               source_etag=etag, dag_run_id=run_id, run_options=options or None)

        def enabled(name: str, args: list[str]) -> list[str] | None:
            return args if _switch(params, name) else None

        return {
            "video_id": vid,
            "bucket": bucket,
            "key": key,
            "etag": etag,
            "name": uploaded_name(head),  # the upload page's file name, the page's title; None otherwise
            "source": f"s3://{bucket}/{key}",
            "work": f"s3://{SETTINGS.bucket}/{SETTINGS.work_prefix}{vid}",
            "done": done,
            "args_transcode": _options(ladder=params["ladder"]),
            "args_transcribe": enabled("transcribe", [
                *_options(model=params["whisper_model"], language=params["language"]),
                "--translate" if _switch(params, "translate") else "--no-translate"]),
            "args_detect": enabled("detect", _options(model=params["detect_model"], classes=params["detect_classes"],
                                                      fps=params["detect_fps"])),
            "args_previews": enabled("previews", []),
        }

    @task.short_circuit
    def needs_processing(done: bool) -> bool:
        """Already published with this ETag: the run does nothing (unless force)."""
        return not done

    @task(trigger_rule="none_failed")
    def previews_inputs(args: list[str] | None, detect: dict[str, Any] | None) -> list[str] | None:
        """The previews' options, with detect's findings for the poster when detect ran."""
        if args is None or not detect:
            return args
        return [*args, "--detections", detect["artifacts"]["detections.json"]]

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def needs_review(params: dict[str, Any], transcribe: dict[str, Any] | None) -> bool:
        """Caption review when the run asks for it and there is speech to review."""
        return _switch(params, "review") and bool(transcribe and transcribe.get("speech"))

    @task(multiple_outputs=True, trigger_rule="none_failed")
    def reviewed(video: dict[str, Any], transcribe: dict[str, Any] | None, answer: dict[str, Any] | None) -> dict:
        """The captions stage's input: the reviewer's lines (it keeps the cues they left as they were).
        Without a review, or an approval that sent no text, there is nothing to do: the stage skips."""
        from video_pipeline import review

        text = ((answer or {}).get("params_input") or {}).get(review.FIELD)
        if not transcribe or not text:
            return {"source": "", "args": None}
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        lines = text.strip().splitlines()
        texts = review.put_texts(S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(), SETTINGS, video["video_id"],
                                 [line.strip() for line in lines])
        return {"source": transcribe["artifacts"]["manifest.json"], "args": ["--texts", texts]}

    @task(multiple_outputs=True, trigger_rule="none_failed")
    def burn_inputs(params: dict[str, Any], transcode: dict[str, Any], transcribe: dict[str, Any] | None,
                    captions: dict[str, Any] | None) -> dict:
        """Burn the top rendition with the transcript's subtitles (the translation goes on the soft variant);
        skip when there is nothing to burn."""
        transcribe = _final(transcribe, captions)
        top = transcode["artifacts"][transcode["top"]]
        if not _switch(params, "burn") or not transcribe or not transcribe.get("speech"):
            return {"source": top, "args": None}
        return {"source": top, "args": _subtitle_tracks(transcribe, "srt")}

    @task(multiple_outputs=True, trigger_rule="none_failed")
    def package_inputs(params: dict[str, Any], video: dict[str, Any], transcode: dict[str, Any],
                       transcribe: dict[str, Any] | None, captions: dict[str, Any] | None) -> dict:
        """The ladder to package, its subtitle tracks, and (encrypt) the video's private key object.

        An encrypted stream gets no subtitle track: the packager writes text tracks in the clear.
        """
        transcribe = _final(transcribe, captions)
        if not _switch(params, "package"):
            return {"source": "", "args": None}
        encrypt = _switch(params, "encrypt")
        speech = bool(transcribe and transcribe.get("speech"))
        args = _subtitle_tracks(transcribe, "vtt") if speech and not encrypt else []
        if encrypt:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            from video_pipeline.keys import ensure_key

            args += ["--key", ensure_key(S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(), SETTINGS,
                                         video["video_id"])]
        return {"source": transcode["artifacts"]["manifest.json"], "args": args}

    @task(trigger_rule="none_failed", outlets=[PUBLISHED], max_active_tis_per_dag=1)  # one index writer
    def publish(
        video: dict[str, Any], probe: dict, transcode: dict, transcribe: dict | None, captions: dict | None,
        answer: dict | None, detect: dict | None, previews: dict | None, burn: dict | None, package: dict | None,
        run_id: str, outlet_events: Any = None,
    ) -> dict[str, Any]:
        """Render and upload the page, upsert the item, refresh the index, record the assets."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import Asset

        from airflow.sdk.exceptions import AirflowSkipException

        from video_pipeline import review
        from video_pipeline.publish import Superseded
        from video_pipeline.publish import publish as publish_video

        try:
            result = publish_video(
                s3=S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(),
                catalog=tracking.catalog(SETTINGS),
                settings=SETTINGS,
                video={k: video.get(k) for k in ("video_id", "bucket", "key", "etag", "name", "source")},
                manifests={"probe": probe, "transcode": transcode, "transcribe": _final(transcribe, captions),
                           "detect": detect, "previews": previews, "burn": burn, "package": package},
                run_id=run_id,
                caption_review=review.record(answer, captions),
            )
        except Superseded as superseded:
            raise AirflowSkipException(str(superseded)) from superseded
        for key in (result["page_key"], result["video_key"]):
            outlet_events[PUBLISHED].add(Asset(f"s3://{SETTINGS.bucket}/{key}"))
        return result

    video = register()
    gate = needs_processing(video["done"])
    stage_defaults = {"on_execute_callback": tracking.on_stage_start}

    def stage(name: str, **kwargs: Any):
        return video_stage(stage=name, dest=_register_value("work") + f"/{name}/", **stage_defaults, **kwargs)

    # One run, one file: every stage that reads the upload reads the version register saw (its ETag);
    # one replaced or deleted meanwhile fails the run (stages.SourceChanged), and gets a run of its own.
    upload = {"source": _register_value("source"), "source_etag": _register_value("etag")}
    probe = stage("probe", stage_args=[], **upload)
    gate >> probe
    # Every later stage's execution_timeout follows the duration that probe measured.
    probed = {"probed": probe.output}
    transcode = stage("transcode", stage_args=video["args_transcode"], **upload, **probed)
    transcribe = stage("transcribe", stage_args=video["args_transcribe"], **upload, **probed)
    detect = stage("detect", stage_args=video["args_detect"], **upload, **probed)
    # After detect: the poster prefers a frame with an animal that detect followed.
    previews = stage("previews", stage_args=previews_inputs(video["args_previews"], detect.output),
                     trigger_rule="none_failed", **upload, **probed)

    # Caption review (param review): a person answers in Required Actions; a rejection skips all below it.
    review = CaptionReviewOperator(
        task_id="review_captions", transcribe=transcribe.output, video_id=_register_value("video_id"),
        timeout_minutes="{{ params.review_timeout_minutes or '' }}", on_timeout="{{ params.review_on_timeout or '' }}",
        on_execute_callback=tracking.on_review_start,
    )
    needs_review(transcribe=transcribe.output) >> review
    edits = reviewed(video=video, transcribe=transcribe.output, answer=review.output)
    captions = stage("captions", source=edits["source"], stage_args=edits["args"], trigger_rule="none_failed",
                     **probed)

    inputs = burn_inputs(transcode=transcode.output, transcribe=transcribe.output, captions=captions.output)
    burn = stage("burn", source=inputs["source"], stage_args=inputs["args"], trigger_rule="none_failed", **probed)

    streams = package_inputs(video=video, transcode=transcode.output, transcribe=transcribe.output,
                             captions=captions.output)
    package = stage("package", source=streams["source"], stage_args=streams["args"], trigger_rule="none_failed",
                    **probed)

    publish(video=video, probe=probe.output, transcode=transcode.output, transcribe=transcribe.output,
            captions=captions.output, answer=review.output, detect=detect.output, previews=previews.output,
            burn=burn.output, package=package.output)


video_pipeline()
