"""Run params are checked (issue 23, finding 4): a run reads only the deployment's source buckets and
prefixes, and where review is the default a run can neither switch it off nor shorten it.

Three lines: the DAG's param schema (what JSON schema can say, checked when a run is created), the
``register`` task (``run_params``, before any S3 read), and the trigger DAGs, which start no run for an
object outside the sources. The attacks go in for real through ``airflow dags test`` against moto server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import boto3
import local_env
import pytest

from video_pipeline.bootstrap import bootstrap
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.identity import video_id

ROOT = Path(__file__).resolve().parents[2]
BUCKET, TABLE, OTHER = "sec-run-params", "sec-run-params-videos", "other-bucket"

# (bucket, video_key, what register says): objects a run must never read. The schema refuses all of them but
# LONG_KEY, short enough in characters (maxLength) and too long in bytes (S3's limit): register refuses it too.
NOT_UNDER = "is not under a prefix runs may take: incoming/ (SOURCE_PREFIXES)"
PATH_ATTACKS = [
    (OTHER, "incoming/a.mp4", f"bucket 'other-bucket' is not one runs may read from: {BUCKET} (SOURCE_BUCKETS)"),
    (BUCKET, "keys/x.json", f"video_key 'keys/x.json' {NOT_UNDER}"),
    (BUCKET, "quarantine/..", "video_key 'quarantine/..' has a '..' segment"),
    (BUCKET, "work/0123456789abcdef/transcode/manifest.json",
     f"video_key 'work/0123456789abcdef/transcode/manifest.json' {NOT_UNDER}"),
    (BUCKET, "site/videos/0123456789abcdef/video.mp4",
     f"video_key 'site/videos/0123456789abcdef/video.mp4' {NOT_UNDER}"),
    (BUCKET, "incoming/../keys/a", "video_key 'incoming/../keys/a' has a '..' segment"),
    (BUCKET, "incoming/a/../../keys/a.json", "video_key 'incoming/a/../../keys/a.json' has a '..' segment"),
    (BUCKET, "incoming/line\nbreak.mp4", "video_key 'incoming/line\\nbreak.mp4' has a control character"),
    (BUCKET, "incoming", f"video_key 'incoming' {NOT_UNDER}"),
    (BUCKET, "incoming/", f"video_key 'incoming/' {NOT_UNDER}"),
]
LONG_KEY = "incoming/" + "é" * 510 + ".mp4"  # 523 characters, 1033 bytes in UTF-8
# What a run may not do to the review when the deployment reviews every video (REVIEW=true, 1440 minutes, fail).
REVIEW_ATTACKS: dict[str, tuple[dict[str, object], str]] = {
    "switched off": ({"review": False}, "review"),
    "a shorter wait": ({"review_timeout_minutes": 0.01}, "review_timeout_minutes"),
    "publish unanswered": ({"review_on_timeout": "publish"}, "review_on_timeout"),
}


def _settings(**values: str) -> Settings:
    return Settings.from_env(bucket=BUCKET, **{name.lower(): value for name, value in values.items()})


# The pure check that register makes ------------------------------------------------------------------

@pytest.mark.parametrize("bucket, key, said", [
    *PATH_ATTACKS, (BUCKET, LONG_KEY, f"video_key {LONG_KEY!r} is 1033 bytes long; S3 keys are at most 1024")])
def test_register_check_refuses_every_object_outside_the_sources_naming_it(bucket, key, said):
    from video_pipeline.run_params import RunParamError, Sources, check_run

    settings = _settings()
    with pytest.raises(RunParamError) as refused:
        check_run(settings, Sources.from_settings(settings), {"video_key": key, "bucket": bucket})
    assert str(refused.value) == said


def test_register_check_takes_keys_under_the_sources():
    from video_pipeline.run_params import Sources, check_run

    settings = _settings(SOURCE_BUCKETS=f"{BUCKET},archive-bucket", SOURCE_PREFIXES="incoming/,archive/")
    sources = Sources.from_settings(settings)
    for bucket, key in [(BUCKET, "incoming/Cat & friends (1).mp4"), ("archive-bucket", "archive/2025/a..b.mp4"),
                        (BUCKET, "incoming/" + "e" * 1000 + ".mp4")]:
        check_run(settings, sources, {"video_key": key, "bucket": bucket})


def test_by_default_runs_read_the_deployments_bucket_under_the_incoming_prefix():
    from video_pipeline.run_params import Sources

    assert Sources.from_settings(_settings()) == Sources((BUCKET,), ("incoming/",))
    listed = _settings(SOURCE_BUCKETS=f" a-bucket, ,{BUCKET}", SOURCE_PREFIXES="incoming/, ,archive/,incoming/")
    assert Sources.from_settings(listed) == Sources(("a-bucket", BUCKET), ("incoming/", "archive/"))


@pytest.mark.parametrize("settings", [{"SOURCE_BUCKETS": "a-bucket"}, {"SOURCE_PREFIXES": "archive/"},
                                      {"SOURCE_PREFIXES": "incoming/videos/"}])
def test_sources_must_take_the_bucket_and_prefix_that_uploads_land_in(settings):
    from video_pipeline.run_params import Sources

    with pytest.raises(ValueError, match=f"must take bucket '{BUCKET}' and its incoming prefix 'incoming/'"):
        Sources.from_settings(_settings(**settings))


@pytest.mark.parametrize("settings, reserved", [
    ({"SOURCE_PREFIXES": "incoming/,work/"}, "work/"), ({"SOURCE_PREFIXES": "site/videos/"}, "site/"),
    ({"SOURCE_PREFIXES": "k"}, "keys/"), ({"SOURCE_PREFIXES": "quarantine/x/"}, "quarantine/"),
    ({"INCOMING_PREFIX": "/", "WORK_PREFIX": "/work/"}, "/work/")])
def test_a_source_prefix_over_the_pipelines_own_objects_is_refused_at_parse(settings, reserved):
    from video_pipeline.run_params import Sources

    with pytest.raises(ValueError, match=f"overlaps the .* prefix '{reserved}'"):
        Sources.from_settings(_settings(**settings))


@pytest.mark.parametrize("attack", REVIEW_ATTACKS)
def test_register_check_refuses_a_run_that_weakens_the_default_review(attack):
    from video_pipeline.run_params import RunParamError, Sources, check_run

    params, name = REVIEW_ATTACKS[attack]
    settings = _settings(REVIEW="true", REVIEW_TIMEOUT_MINUTES="1440", REVIEW_ON_TIMEOUT="fail")
    run = {"video_key": "incoming/a.mp4", "bucket": BUCKET, **params}
    with pytest.raises(RunParamError, match=f"^{name} .*REVIEW") as refused:
        check_run(settings, Sources.from_settings(settings), run)
    assert repr(next(iter(params.values()))) in str(refused.value)
    # Without REVIEW=true the run's own choice stands; with it, a stricter review is the run's to ask for.
    relaxed = _settings(REVIEW="false")
    check_run(relaxed, Sources.from_settings(relaxed), run)
    for stricter in ({"review": True}, {"review_timeout_minutes": 2880}, {"review_on_timeout": "fail"},
                     {"review": None, "review_timeout_minutes": None, "review_on_timeout": None}):
        check_run(settings, Sources.from_settings(settings), {"video_key": "incoming/a.mp4", **stricter})


# The DAG's param schema, checked by Airflow when a run is created -----------------------------------------

def _dag(dag_id: str = "video_pipeline"):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def _validate(dag, conf: dict) -> None:
    """What Airflow does with a new run's conf (``create_dagrun``): the serialized DAG's params, merged, validated."""
    from airflow.serialization.serialized_objects import DagSerialization

    DagSerialization.from_dict(DagSerialization.to_dict(dag)).params.deep_merge(conf).validate()


@pytest.fixture
def pipeline_settings(monkeypatch):
    monkeypatch.setenv("VIDEO_PIPELINE_BUCKET", BUCKET)
    for name in ("SOURCE_BUCKETS", "SOURCE_PREFIXES", "REVIEW", "REVIEWERS"):
        monkeypatch.delenv(f"VIDEO_PIPELINE_{name}", raising=False)
    return monkeypatch


def test_the_param_schema_takes_videos_under_the_sources(pipeline_settings):
    dag = _dag()
    for good in ({"video_key": "incoming/a b.mp4", "bucket": BUCKET}, {"video_key": "incoming/x/a..b.mp4"},
                 {"video_key": "incoming/a.mp4", "bucket": None}, {"video_key": LONG_KEY}):
        _validate(dag, good)  # LONG_KEY too: its bytes are register's to count


@pytest.mark.parametrize("bucket, key", [(bucket, key) for bucket, key, _ in PATH_ATTACKS])
def test_the_param_schema_refuses_objects_outside_the_sources(pipeline_settings, bucket, key):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=re.escape(repr(bucket if bucket == OTHER else key))):
        _validate(_dag(), {"video_key": key, "bucket": bucket})


def test_the_backfill_refuses_a_prefix_or_bucket_outside_the_sources(pipeline_settings):
    """Its schema refuses the run; its task refuses before it lists anything (no S3 here to list)."""
    from airflow.exceptions import ParamValidationError
    from airflow.sdk.exceptions import AirflowFailException

    dag = _dag("video_backfill")
    _validate(dag, {"prefix": "incoming/2025/"})
    plan_page = dag.get_task("plan_page").python_callable
    for params in ({"prefix": "keys/"}, {"prefix": ""}, {"prefix": "incoming/../keys/"}, {"bucket": OTHER}):
        with pytest.raises(ParamValidationError):
            _validate(dag, params)
        run = {"bucket": BUCKET, "prefix": "incoming/", "since": None, "until": None, "reprocess": False, **params}
        with pytest.raises(AirflowFailException, match=re.escape(repr(next(iter(params.values()))))):
            plan_page(params=run, room=10, dag_run=SimpleNamespace(conf={}, run_id="r"), ti=None)


def test_reviewers_named_in_the_settings_are_the_reviews_assigned_users(pipeline_settings):
    pipeline_settings.setenv("VIDEO_PIPELINE_REVIEWERS", "editor, chief")
    review = _dag().get_task("review_captions")
    assert review.assigned_users == [{"id": "editor", "name": "editor"}, {"id": "chief", "name": "chief"}]
    pipeline_settings.delenv("VIDEO_PIPELINE_REVIEWERS")
    assert _dag().get_task("review_captions").assigned_users is None  # anyone who may answer Required Actions


# The attacks for real: `airflow dags test video_pipeline` against moto server -------------------------------

@pytest.fixture(scope="module")
def airflow(moto_endpoint, tmp_path_factory):
    """An Airflow home on SQLite pointed at moto, the pipeline's bucket and table; runs `airflow ...`."""
    home = tmp_path_factory.mktemp("airflow-run-params")
    env = {**os.environ, **local_env.airflow_env(home, moto_endpoint), "VIDEO_PIPELINE_BUCKET": BUCKET,
           "VIDEO_PIPELINE_TABLE": TABLE, "VIDEO_PIPELINE_EVENTS_QUEUE_URL": ""}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    clients = {name: boto3.client(name, endpoint_url=moto_endpoint) for name in ("s3", "dynamodb")}
    bootstrap(**clients, settings=Settings.from_env(bucket=BUCKET, table=TABLE))
    clients["s3"].create_bucket(Bucket=OTHER)

    def run(conf: dict, **settings: str) -> str:
        extra = {f"VIDEO_PIPELINE_{name}": value for name, value in settings.items()}
        done = subprocess.run(["airflow", "dags", "test", "video_pipeline", "-c", json.dumps(conf)],
                              env={**env, **extra}, capture_output=True, text=True, timeout=900)
        return done.stdout + done.stderr

    return run


@pytest.fixture(scope="module")
def table(moto_endpoint):
    return boto3.resource("dynamodb", endpoint_url=moto_endpoint).Table(TABLE)


def _listed(s3, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


@pytest.mark.parametrize("bucket, key", [(BUCKET, "keys/x.json"), (OTHER, "incoming/private.mp4")])
def test_a_run_for_an_object_outside_the_sources_is_refused_and_reads_nothing(airflow, s3, table, bucket, key):
    """Before: the run took the object, probe failed on it, and the quarantine copied it into the pipeline's
    bucket with an item naming it. Now Airflow refuses to create the run: the schema names the value."""
    body = json.dumps({"key": "00112233445566778899aabbccddeeff"}).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    output = airflow({"video_key": key, "bucket": bucket})
    vid = video_id(bucket, key, s3.head_object(Bucket=bucket, Key=key)["ETag"])
    assert _listed(s3, BUCKET, f"quarantine/{vid}/") == [] and _listed(s3, BUCKET, f"work/{vid}/") == []
    assert table.get_item(Key={"video_id": vid}, ConsistentRead=True).get("Item") is None
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert "ParamValidationError" in output and repr(key if bucket == BUCKET else bucket) in output, output[-3000:]
    assert "starting task_id=register" not in output


@pytest.fixture(scope="module")
def spoken_clip(make_media, speak):
    """3 s, 160x90, with English speech: captions to review."""
    return make_media("run-params.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=3",
                      "-i", speak("run-params.wav", "The cat sits on the mat.", "en-us", 150), "-af", "apad",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", "3")


@pytest.mark.parametrize("attack, said", [
    ({"review": False}, "review False is refused: caption review is this deployment's default (REVIEW=true)"),
    ({"review_timeout_minutes": 0.01, "review_on_timeout": "publish"},
     "review_timeout_minutes 0.01 is refused: with REVIEW=true a run may wait longer than 1440 minutes"),
], ids=["review off", "short wait, then publish"])
def test_with_review_the_default_a_run_that_weakens_it_fails_in_register(airflow, s3, table, spoken_clip, attack,
                                                                          said):
    """A reviewed run waits in Required Actions; a second run for the same video asks for a weaker review.
    Before: it took the item over (queued, its run id) and went on to publish unreviewed. Now register
    fails it with the reason before any S3 read; the item and the site are as they were."""
    key = f"incoming/awaiting review/{'-'.join(attack)}.mp4"
    s3.upload_file(str(spoken_clip), BUCKET, key)
    vid = video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    catalog = VideoCatalog(table)
    catalog.set_status(vid, "queued", source_bucket=BUCKET, source_key=key, dag_run_id="manual__reviewed")
    catalog.set_processing(vid, stage="review_captions", owner_run="manual__reviewed")
    before = catalog.get(vid)

    output = airflow({"video_key": key, "bucket": BUCKET, "detect": False, "previews": False, "package": False,
                      **attack}, REVIEW="true")
    assert _listed(s3, BUCKET, f"site/videos/{vid}/") == [] and _listed(s3, BUCKET, f"work/{vid}/") == []
    assert catalog.get(vid) == before
    assert said in output, output[-4000:]
    assert "end task task_id=register" in output and "starting task_id=probe" not in output
