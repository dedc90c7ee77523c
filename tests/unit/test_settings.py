"""The Airflow side's settings: read once from VIDEO_PIPELINE_* into typed fields, refused by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from video_pipeline.config import BindMount, Settings, SettingsError, Toleration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def environment(monkeypatch) -> pytest.MonkeyPatch:
    """No VIDEO_PIPELINE_* variable but those a test sets."""
    for name in os.environ:
        if name.startswith("VIDEO_PIPELINE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def with_env(monkeypatch, **values: str) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(f"VIDEO_PIPELINE_{name}", value)
    return Settings.from_env()


def test_the_defaults_are_typed():
    settings = Settings.from_env()
    assert (settings.retries, settings.retry_delay_s, settings.upload_max_bytes) == (3, 20.0, 5 * 1024**3)
    assert (settings.review, settings.k8s_in_cluster, settings.docker_network_egress) == (False, True, False)
    assert settings.runner == "local" and settings.review_on_timeout == "fail"
    assert settings.stage_timeouts == {} and settings.reviewers == () and settings.source_buckets == ()
    assert settings.video_extensions[:3] == ("mp4", "m4v", "mov") and "yolo11x.pt" in settings.detect_models
    assert settings.k8s_gpu_node_selector == {"nvidia.com/gpu.present": "true"}
    assert settings.k8s_gpu_tolerations == (Toleration("nvidia.com/gpu", None, "NoSchedule"),)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("TRUE", True), ("True", True), (" false ", False),
                                             ("False", False)])
def test_switches_take_true_and_false_in_any_case(environment, text, value):
    settings = with_env(environment, REVIEW=text, K8S_IN_CLUSTER=text, DOCKER_NETWORK_EGRESS=text)
    assert (settings.review, settings.k8s_in_cluster, settings.docker_network_egress) == (value, value, value)


def test_numbers_are_numbers(environment):
    settings = with_env(environment, RETRIES="5", RETRY_DELAY_S="2.5", RUN_DEADLINE_MINUTES="0",
                        UPLOAD_MAX_BYTES="1048576", DISCOVERY_LOOKBACK_MINUTES="15", DOCKER_CPUS="0.5")
    assert (settings.retries, settings.retry_delay_s, settings.run_deadline_minutes) == (5, 2.5, 0.0)
    assert (settings.upload_max_bytes, settings.discovery_lookback_minutes, settings.docker_cpus) == (1048576, 15, 0.5)


def test_lists_are_stripped_and_each_entry_kept_once(environment):
    settings = with_env(environment, REVIEWERS=" editor, chief,,editor ", SOURCE_PREFIXES="incoming/, archive/",
                        VIDEO_EXTENSIONS=".MP4, mov,mp4", WHISPER_MODELS="base")
    assert settings.reviewers == ("editor", "chief") and settings.source_prefixes == ("incoming/", "archive/")
    assert settings.video_extensions == ("mp4", "mov") and settings.whisper_models == ("base",)


def test_pairs_are_dicts_and_specs_are_records(environment):
    settings = with_env(environment, STAGE_TIMEOUTS="transcode=3600, detect=1800.5",
                        K8S_GPU_NODE_SELECTOR="pool=gpu,zone=a",
                        K8S_GPU_TOLERATIONS="gpu=yes:NoExecute,spot:NoSchedule",
                        DOCKER_MOUNTS="/srv/models:/models:ro, /srv/cache:/cache")
    assert settings.stage_timeouts == {"transcode": 3600.0, "detect": 1800.5}
    assert settings.k8s_gpu_node_selector == {"pool": "gpu", "zone": "a"}
    assert settings.k8s_gpu_tolerations == (Toleration("gpu", "yes", "NoExecute"),
                                            Toleration("spot", None, "NoSchedule"))
    assert settings.docker_mounts == (BindMount("/srv/models", "/models", True),
                                      BindMount("/srv/cache", "/cache", False))
    assert [str(t) for t in settings.k8s_gpu_tolerations] == ["gpu=yes:NoExecute", "spot:NoSchedule"]


def test_an_empty_variable_means_the_default(environment):
    settings = with_env(environment, BUCKET="", RETRIES="", REVIEW="", DETECT_MODELS="", K8S_GPU_TOLERATIONS="")
    for name in ("bucket", "retries", "review", "detect_models", "k8s_gpu_tolerations"):
        assert getattr(settings, name) == Settings.model_fields[name].default, name
    assert settings.retries == 3 and settings.k8s_gpu_tolerations


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("RUNNER", "dockr", "input should be 'local', 'docker' or 'kubernetes'"),
    ("REVIEW_ON_TIMEOUT", "approve", "input should be 'publish' or 'fail'"),
    ("REVIEW", "yes", "expected true or false (any case)"),
    ("RETRIES", "three", "valid integer"),
    ("REVIEW_TIMEOUT_MINUTES", "0", "greater than 0"),
    ("UPLOAD_MAX_BYTES", str(6 * 1024**3), "less than or equal to 5368709120"),
    ("STAGE_TIMEOUTS", "transcod=30", "unknown stage 'transcod'; expected stage=seconds with a stage of probe, "),
    ("STAGE_TIMEOUTS", "detect=soon", "'detect=soon' is not stage=seconds (a positive number)"),
    ("K8S_GPU_NODE_SELECTOR", "gpu", "'gpu' is not key=value"),
    ("K8S_GPU_TOLERATIONS", "nvidia.com/gpu:Sometimes", "is not key[=value]:Effect, an Effect of NoSchedule, "),
    ("DOCKER_MOUNTS", "models:/models", "'models:/models' is not SOURCE:TARGET[:ro|rw] with absolute paths"),
])
def test_a_bad_value_is_refused_naming_the_variable_the_value_and_what_it_may_be(environment, name, value,
                                                                                  allowed):
    environment.setenv(f"VIDEO_PIPELINE_{name}", value)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value).startswith(f"VIDEO_PIPELINE_{name}: {value!r} is refused: ")
    assert allowed in str(refused.value)
    assert isinstance(refused.value, ValueError)  # a DAG file's parse fails with this message


def test_every_bad_value_is_named_at_once(environment):
    environment.setenv("VIDEO_PIPELINE_RUNNER", "dockr")
    environment.setenv("VIDEO_PIPELINE_RETRIES", "-1")
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert [line.split(":")[0] for line in str(refused.value).splitlines()] == ["VIDEO_PIPELINE_RUNNER",
                                                                               "VIDEO_PIPELINE_RETRIES"]


def test_overrides_are_checked_as_variables_are_and_unknown_names_refused():
    assert Settings.from_env(bucket="own", upload_max_bytes="1024").upload_max_bytes == 1024
    with pytest.raises(SettingsError, match="VIDEO_PIPELINE_UPLOAD_MAX_BYTES: 'lots' is refused"):
        Settings.from_env(upload_max_bytes="lots")
    with pytest.raises(SettingsError, match="VIDEO_PIPELINE_BUKET"):
        Settings.from_env(buket="typo")


def test_settings_are_read_without_airflow():
    """DAG files read them at parse time; config.py itself imports no Airflow (tests here need none)."""
    code = "import sys, video_pipeline.config; print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
