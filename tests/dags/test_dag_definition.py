"""The video_pipeline DAG as Airflow parses it: integrity, shape, and the Docker runner's tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]  # tests/dags/conftest.py has set AIRFLOW_HOME
# Every stage's result line from a real worker run, under s3://media/work/0123456789abcdef (tests/unit).
MANIFESTS = json.loads((ROOT / "tests" / "unit" / "fixtures" / "manifests.json").read_text())
REGISTRATION = {"video_id": "0123456789abcdef", "bucket": "media", "key": "incoming/a b.mp4",
                "etag": "9e107d9d372bb6826bd81d3542a419d6", "name": None, "source": "s3://media/incoming/a b.mp4",
                "work": "s3://media/work/0123456789abcdef", "done": False, "key_uri": None}


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture
def dag(monkeypatch):
    monkeypatch.setenv("VIDEO_PIPELINE_RUNNER", "local")
    bag = _dagbag()
    assert bag.import_errors == {}
    return bag.dags["video_pipeline"]


def test_dags_import_without_errors_and_follow_conventions():
    bag = _dagbag()
    assert bag.import_errors == {}
    assert "video_pipeline" in bag.dags
    for dag in bag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        assert dag.catchup is False
        for task in dag.tasks:
            assert task.owner == "video-pipeline", task.task_id
            assert task.retries >= 1, task.task_id


def test_task_graph(dag):
    """One task per stage, publish, and two besides: register (which ends a run with nothing to do) and
    review_captions."""
    assert sorted(t.task_id for t in dag.tasks) == sorted([
        "register", "review_captions", "publish",
        "probe", "transcode", "transcribe", "detect", "previews", "captions", "burn", "chapters", "package"])
    downstream = {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}
    stages = {"probe", "transcode", "transcribe", "detect", "previews", "captions", "burn", "chapters", "package"}
    assert downstream["register"] == stages | {"review_captions", "publish"}  # its XCom
    register = dag.get_task("register")
    assert register.task_type == "_ShortCircuitDecoratedOperator" and register.ignore_downstream_trigger_rules
    assert downstream["probe"] == stages - {"probe"} | {"publish"}  # its duration sets their timeouts
    assert downstream["transcode"] == {"burn", "chapters", "package", "publish"}
    # Caption review (param review) sits between transcribe and everything that uses its subtitles.
    assert downstream["transcribe"] == {"review_captions", "captions", "burn", "chapters", "package", "publish"}
    assert downstream["review_captions"] == {"captions", "publish"}
    assert downstream["captions"] == {"burn", "chapters", "package", "publish"}
    review = dag.get_task("review_captions")
    assert review.task_type == "CaptionReviewOperator" and review.ignore_downstream_trigger_rules
    assert review.options == ["Approve", "Reject"] and review.defaults is None  # a timeout fails by default
    assert review.response_timeout.total_seconds() == 24 * 3600 and dag.params["review"] is False
    assert downstream["detect"] == {"previews", "publish"}  # the poster prefers what detect found
    assert downstream["previews"] == downstream["burn"] == downstream["package"] == {"publish"}
    assert downstream["chapters"] == {"publish"}  # beside burn and package: nothing waits for it but publish
    assert downstream["publish"] == set()
    # A stage after one that may skip runs all the same, and plans from what there is.
    assert {t.task_id for t in dag.tasks if t.trigger_rule == "none_failed"} == {
        "previews", "captions", "burn", "chapters", "package", "publish"}
    assert {t.task_type for t in dag.tasks if t.task_id in stages} == {"VideoStageOperator"}
    assert dag.params.get_param("video_key").schema["type"] == "string"
    assert dag.schedule is None


def test_only_the_video_key_is_required(dag):
    """The trigger form marks a param required unless its type allows null."""
    required = [name for name, param in dag.params.items() if "null" not in param.schema.get("type", [])]
    assert required == ["video_key"]
    for name in ("ladder", "whisper_model", "language", "detect_model", "detect_classes", "detect_fps"):
        assert dag.params[name] is None, name  # empty: the worker's own default, defined once there


def test_a_caption_review_waits_and_times_out_as_the_run_or_the_settings_say(monkeypatch):
    from datetime import timedelta

    from video_pipeline.config import Settings

    monkeypatch.setenv("VIDEO_PIPELINE_REVIEW", "true")
    monkeypatch.setenv("VIDEO_PIPELINE_REVIEW_ON_TIMEOUT", "publish")
    monkeypatch.setenv("VIDEO_PIPELINE_REVIEW_TIMEOUT_MINUTES", "30")
    dag = _dagbag().dags["video_pipeline"]
    assert dag.params["review"] is True  # uploads, which start runs with the defaults, are reviewed too
    review, settings = dag.get_task("review_captions"), Settings.from_env()
    xcoms = {"transcribe": MANIFESTS["transcribe"], "register": REGISTRATION}
    _render(review, xcoms, {"review_timeout_minutes": None, "review_on_timeout": None})
    assert review._timeout_policy(settings) == (timedelta(minutes=30), ["Approve"])  # publish: approve as is
    review = _dagbag().dags["video_pipeline"].get_task("review_captions")
    _render(review, xcoms, {"review_timeout_minutes": 0.25, "review_on_timeout": "fail"})
    assert review._timeout_policy(settings) == (timedelta(seconds=15), None)  # fail: no answer to take


def test_the_review_skips_itself_without_review_or_speech(dag):
    from airflow.sdk.exceptions import AirflowSkipException

    silent = {**MANIFESTS["transcribe"], "speech": False}
    waits = {"review_timeout_minutes": None, "review_on_timeout": None}
    for review_param, transcribe, reason in [(False, MANIFESTS["transcribe"], "no caption review"),
                                             (None, MANIFESTS["transcribe"], "no caption review"),
                                             (True, silent, "no speech")]:
        params = {**waits, "review": review_param}
        review = _run(dag, "review_captions", {"transcribe": transcribe, "register": REGISTRATION}, params)
        with pytest.raises(AirflowSkipException, match=reason):
            review.pre_execute({"params": params})
    review = _run(dag, "review_captions", {"transcribe": MANIFESTS["transcribe"], "register": REGISTRATION},
                  {**waits, "review": True})
    review.pre_execute({"params": {**waits, "review": True}})  # speech, and a review: it goes on to wait


def test_a_misconfigured_caption_review_fails_the_parse_saying_why(monkeypatch):
    monkeypatch.setenv("VIDEO_PIPELINE_REVIEW_ON_TIMEOUT", "approve")
    error = _dagbag().import_errors[str(ROOT / "dags" / "video_pipeline.py")]
    assert "VIDEO_PIPELINE_REVIEW_ON_TIMEOUT: 'approve' is refused: input should be 'publish' or 'fail'" in error
    monkeypatch.setenv("VIDEO_PIPELINE_REVIEW_ON_TIMEOUT", "fail")
    monkeypatch.setenv("VIDEO_PIPELINE_REVIEW_TIMEOUT_MINUTES", "0")
    error = _dagbag().import_errors[str(ROOT / "dags" / "video_pipeline.py")]
    assert "VIDEO_PIPELINE_REVIEW_TIMEOUT_MINUTES: '0' is refused: input should be greater than 0" in error


def test_each_stage_task_plans_from_the_xcoms_its_wiring_gives_it(dag):
    """The DAG hands each stage the manifests its plan needs (tests/unit/test_planning.py has the plans):
    previews detect's findings, captions the review's text, burn and package the final transcript."""
    work = REGISTRATION["work"]
    texts = f"{work}/review/texts.json"
    answer = {"decision": "approved", "by": "editor", "at": "2026-01-01 00:00:00+00:00", "timed_out": False,
              "texts": texts}
    xcoms = {"register": REGISTRATION, **MANIFESTS, "review_captions": answer}
    planned = {}
    for stage in ("probe", "transcode", "transcribe", "detect", "previews", "captions", "burn", "chapters", "package"):
        planned[stage] = _run(dag, stage, xcoms, {"ladder": "720,360"}).cli_args()
    assert planned["probe"] == ["probe", "--source", REGISTRATION["source"], "--source-etag", REGISTRATION["etag"],
                                "--dest", f"{work}/probe/"]
    assert planned["transcode"][-2:] == ["--ladder", "720,360"]
    assert planned["previews"][-2:] == ["--detections", f"{work}/detect/detections.json"]
    assert planned["captions"] == ["captions", "--source", f"{work}/transcribe/manifest.json", "--dest",
                                   f"{work}/captions/", "--texts", texts]
    assert planned["burn"][-2:] == ["--subtitles", f"en={work}/captions/subtitles.srt"]  # the reviewed captions
    assert planned["chapters"] == ["chapters", "--source", f"{work}/transcode/renditions/240p.mp4", "--dest",
                                   f"{work}/chapters/", "--cues", f"{work}/captions/cues.json"]
    assert planned["package"] == ["package", "--source", f"{work}/transcode/manifest.json", "--dest",
                                  f"{work}/package/", "--subtitles", f"en={work}/captions/subtitles.vtt"]
    # Without a review, captions has nothing to do and burn takes transcribe's subtitles.
    skipped = {**xcoms, "review_captions": None, "captions": None}
    captions, burn = _run(dag, "captions", skipped), _run(dag, "burn", skipped)
    assert captions.invocation is None and burn.cli_args()[-1] == f"en={work}/transcribe/subtitles.srt"
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="captions has nothing to do"):
        captions.pre_execute({})


def test_parsing_imports_no_media_or_ml_library():
    """The scheduler parses DAG files constantly: they must stay light."""
    code = (
        "import sys; sys.path.insert(0, 'plugins');"
        "from airflow.dag_processing.dagbag import DagBag;"
        "bag = DagBag(dag_folder='dags'); assert not bag.import_errors, bag.import_errors;"
        "heavy = {'torch', 'ultralytics', 'faster_whisper', 'ctranslate2', 'cv2', 'whisper', 'video_worker'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=os.environ, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def _render(task, xcoms: dict, params: dict | None = None):
    """Render a task's templates with a stand-in for the task instance's XCom reads: the return values by
    task id (a task left out skipped: None)."""
    def pull(task_ids=None, key="return_value", **_):
        assert key == "return_value", key
        return xcoms.get(task_ids)

    task.render_template_fields({"ti": SimpleNamespace(xcom_pull=pull), "params": params or {}, "task": task})
    return task


def _run(dag, task_id: str, xcoms: dict, params: dict | None = None):
    """A copy of the task as a task instance runs it, rendered (the DAG's task keeps its XComArgs)."""
    return _render(dag.get_task(task_id).prepare_for_execution(), xcoms, params)


def test_docker_runner_renders_worker_containers(monkeypatch):
    from docker.types import DeviceRequest

    monkeypatch.setenv("VIDEO_PIPELINE_RUNNER", "docker")
    monkeypatch.setenv("VIDEO_PIPELINE_WORKER_IMAGE", "registry.example/video-worker:1.2.3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("VIDEO_WORKER_WHISPER_MODEL", "small")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    bag = _dagbag()
    assert bag.import_errors == {}
    dag = bag.dags["video_pipeline"]
    xcoms = {"register": REGISTRATION, "probe": {**MANIFESTS["probe"], "duration_s": 120.0}}
    transcribe = dag.get_task("transcribe")
    assert transcribe.task_type == "VideoStageDockerOperator"
    _render(transcribe, xcoms, {"language": "fr", "translate": False})
    assert transcribe.image == "registry.example/video-worker:1.2.3"
    assert transcribe.command == ["transcribe", "--source", "s3://media/incoming/a b.mp4",
                                  "--source-etag", "9e107d9d372bb6826bd81d3542a419d6",  # the upload's version
                                  "--dest", "s3://media/work/0123456789abcdef/transcribe/", "--language", "fr",
                                  "--no-translate"]
    assert transcribe.queue == "gpu"
    (request,) = transcribe.device_requests
    assert isinstance(request, DeviceRequest) and request.count == -1 and request.capabilities == [["gpu"]]
    assert transcribe.environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert transcribe.environment["VIDEO_WORKER_WHISPER_MODEL"] == "small"
    assert "AWS_SECRET_ACCESS_KEY" not in transcribe.environment
    assert "s3cr3t" not in json.dumps(transcribe._private_environment)  # keys: a mounted file, or a role
    assert dag.get_task("detect").queue == "gpu"

    transcode = dag.get_task("transcode")
    _render(transcode, xcoms, {"ladder": "720,360"})
    assert transcode.command[:2] == ["transcode", "--source"] and transcode.command[-2:] == ["--ladder", "720,360"]
    assert transcode.queue != "gpu" and not transcode.device_requests
    json.dumps(transcode.environment)  # plain strings only: it goes to the Docker API as is
    assert transcode.execution_timeout.total_seconds() == 900  # before the duration is known: the base
    transcode.pre_execute({})
    assert transcode.execution_timeout.total_seconds() == 900 + 5 * 120  # base + 5 s per second of video


def test_docker_runner_settings_shape_the_containers(monkeypatch):
    from docker.types import Mount

    from video_pipeline.containers import STAGE_LABEL

    settings = {"RUNNER": "docker", "DOCKER_NETWORK_MODE": "host", "DOCKER_USER": "1000:1000",
                "DOCKER_MOUNTS": "/srv/models:/models:ro, /srv/cache:/cache", "DOCKER_CPUS": "2",
                "DOCKER_MEMORY": "6g", "DOCKER_GPUS": "none"}
    for name, value in settings.items():
        monkeypatch.setenv(f"VIDEO_PIPELINE_{name}", value)
    bag = _dagbag()
    assert bag.import_errors == {}
    detect = bag.dags["video_pipeline"].get_task("detect")
    assert (detect.network_mode, detect.user, detect.cpus, detect.mem_limit) == ("host", "1000:1000", 0.5, "6g")
    # Off the critical path, detect and previews get a quarter of the CPU shares of the stages burn waits on.
    assert {name: bag.dags["video_pipeline"].get_task(name).cpus for name in ("transcode", "previews")} == \
        {"transcode": 2.0, "previews": 0.5}
    assert detect.mounts == [Mount("/models", "/srv/models", type="bind", read_only=True),
                             Mount("/cache", "/srv/cache", type="bind", read_only=False)]
    assert detect.queue == "gpu" and detect.device_requests == []  # a GPU queue on a host without GPUs
    assert detect.labels == {STAGE_LABEL: "detect"}


def test_plugins_folder_loads_our_plugin_and_no_helper_module_under_a_bare_name():
    """plugins/.airflowignore: Airflow's plugin loader imports video_pipeline_plugin, which registers the
    upload page, and none of our other modules under bare names."""
    bare = sorted({path.stem for path in (ROOT / "plugins").rglob("*.py")} - {"__init__", "video_pipeline_plugin"})
    code = ("import sys; from airflow import plugins_manager; apps, _ = plugins_manager.get_fastapi_plugins();"
            f"print(sorted(set({bare!r}) & set(sys.modules)));"
            "print([(a['name'], a['url_prefix']) for a in apps], plugins_manager.get_import_errors())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}).stdout
    lines = out.strip().splitlines()
    assert "publish" in bare and lines[-2] == "[]"
    assert lines[-1] == "[('Upload videos', '/upload')] {}"


def test_airflow_side_needs_none_of_the_worker_package():
    """The Airflow image has no video_worker: every module of plugins/ imports without it."""
    code = (
        "import sys, pkgutil, importlib; sys.modules['video_worker'] = None;"  # any import of it fails
        "names = [m.name for m in pkgutil.walk_packages(['plugins']) if m.ispkg or '.' in m.name];"
        "[importlib.import_module(n) for n in names]; print(len(names))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=os.environ,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip().splitlines()[-1]) >= 15


def test_trigger_dags(monkeypatch):
    monkeypatch.setenv("VIDEO_PIPELINE_EVENTS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/uploads")
    monkeypatch.setenv("VIDEO_PIPELINE_DISCOVERY_SCHEDULE", "*/2 * * * *")
    bag = _dagbag()
    assert bag.import_errors == {}

    discovery = bag.dags["video_discovery"]
    assert discovery.max_active_runs == 1 and discovery.schedule == "*/2 * * * *"
    sensor = discovery.get_task("wait_for_uploads")
    assert sensor.task_type == "S3KeySensor" and sensor.wildcard_match and sensor.bucket_key == "incoming/*"
    assert sensor.soft_fail and sensor.mode == "reschedule" and sensor.timeout < 60

    for dag_id in ("video_discovery", "video_events", "video_backfill"):
        start = bag.dags[dag_id].get_task("start_runs")
        assert start.operator_class.__name__ == "TriggerDagRunOperator", dag_id
        assert start.partial_kwargs["skip_when_already_exists"] is True
        assert start.partial_kwargs["trigger_dag_id"] == "video_pipeline"

    (uploads,) = bag.dags["video_events"].schedule
    (watcher,) = uploads.watchers
    sqs = watcher.trigger.trigger  # the common-messaging trigger hands the queue to the Amazon provider's
    assert type(sqs).__name__ == "SqsSensorTrigger"
    assert sqs.sqs_queue == "https://sqs.eu-west-1.amazonaws.com/123456789012/uploads" and sqs.num_batches == 1

    backfill = bag.dags["video_backfill"]
    assert backfill.max_active_runs == 1 and backfill.schedule == "@daily"
    assert {"prefix", "since", "until", "reprocess", "max_active", "bucket"} <= set(backfill.params)
    assert backfill.params["reprocess"] is False


def test_event_path_is_off_without_a_queue(monkeypatch):
    monkeypatch.delenv("VIDEO_PIPELINE_EVENTS_QUEUE_URL", raising=False)
    bag = _dagbag()
    assert bag.import_errors == {} and "video_events" not in bag.dags


@pytest.mark.parametrize("executor", ["CeleryExecutor", "LocalExecutor"])
def test_the_executors_of_both_stacks_load(executor):
    """The cluster's CeleryExecutor (its provider and celery, as pinned) and the local stack's."""
    code = ("from airflow.executors.executor_loader import ExecutorLoader;"
            f"print(type(ExecutorLoader.load_executor({executor!r})).__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                         env={**os.environ, "AIRFLOW__CORE__EXECUTOR": executor})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == executor


def test_a_run_past_its_deadline_is_flagged_unless_the_deadline_is_off(monkeypatch):
    monkeypatch.setenv("VIDEO_PIPELINE_RUN_DEADLINE_MINUTES", "45")
    (alert,) = _dagbag().dags["video_pipeline"].deadline
    assert alert.interval.total_seconds() == 45 * 60
    assert alert.callback.path == "video_pipeline.status_callbacks.flag_stuck_run"
    monkeypatch.setenv("VIDEO_PIPELINE_RUN_DEADLINE_MINUTES", "0")
    assert not _dagbag().dags["video_pipeline"].deadline
