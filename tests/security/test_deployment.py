"""Safe deployment defaults: what docker-compose.airflow.yml (with docker-compose.moto.yml), the Helm values
and the docker runner give an attacker who gets code running in a stage container, or who reads what
Docker and Airflow keep about one.

The compose files are read as Compose reads them (YAML, then ``${...}`` interpolation from an environment),
with no Docker needed; tests/production/test_cluster.py runs them for real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "docker-compose.airflow.yml"
MOTO = ROOT / "docker-compose.moto.yml"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# What an operator exports before `up` (docs/production.md); each test leaves out the one it is about.
REQUIRED = {"AIRFLOW_JWT_SECRET": "j" * 64, "AIRFLOW_FERNET_KEY": "f" * 44, "POSTGRES_PASSWORD": "pg-0123456789abcdef",
            "REDIS_PASSWORD": "rd-0123456789abcdef", "AWS_CREDENTIALS_FILE": "/etc/video-pipeline/aws-credentials"}
# Those who must never share a network with a stage container.
BACKEND = ("postgres", "redis", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
           "airflow-triggerer", "airflow-worker-cpu", "airflow-worker-gpu")

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z]\w*)|\{(?P<braced>[^}]*)\})")
_BRACED = re.compile(r"^(?P<name>[_a-zA-Z]\w*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.S)


class MissingVariable(Exception):
    """Compose refuses the file: a ``${NAME:?message}`` whose variable is unset or empty."""


def _substitute(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
    ${NAME:?error}, ${NAME?error}."""
    def one(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        parts = _BRACED.match(match["braced"])
        assert parts, f"compose cannot read ${{{match['braced']}}}"
        name, op, arg = parts["name"], parts["op"], parts["arg"]
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return value or ""

    return _VARIABLE.sub(one, text)


def _interpolate(node, env: dict[str, str]):
    if isinstance(node, str):
        return _substitute(node, env)
    if isinstance(node, dict):
        return {key: _interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(value, env) for value in node]
    return node


def compose(env: dict[str, str], *files: Path) -> dict:
    """The files merged as Compose merges them, for what they use: a service of a later file adds to or
    replaces the same service's keys (its environment merged), top-level networks and secrets by name."""
    merged: dict = {"services": {}, "networks": {}, "secrets": {}}
    for path in files or (BASE, MOTO):
        config = _interpolate(yaml.safe_load(path.read_text()), env)
        for name, service in config.get("services", {}).items():
            into = merged["services"].setdefault(name, {})
            environment = {**_environment(into), **_environment(service)}
            into.update(service)
            into["environment"] = environment
        for section in ("networks", "secrets"):
            merged[section].update(config.get(section) or {})
    return merged


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _networks(config: dict, service: str) -> set[str]:
    """The Docker names of the networks a service joins (none listed: the project's default network)."""
    listed = config["services"][service].get("networks") or ["default"]
    return {(config["networks"].get(key) or {}).get("name", key) for key in listed}


def _without(name: str) -> dict[str, str]:
    return {key: value for key, value in REQUIRED.items() if key != name}


@pytest.mark.parametrize("variable", ["POSTGRES_PASSWORD", "REDIS_PASSWORD"])
def test_the_cluster_does_not_start_without_its_database_and_broker_passwords(variable):
    """Before: Postgres got the password ``airflow`` and Redis none when nobody set one."""
    with pytest.raises(MissingVariable, match=f"^{variable}: set {variable}"):
        compose(_without(variable))


def test_every_client_of_postgres_and_redis_gives_the_password_and_redis_asks_for_it():
    config = compose(REQUIRED)
    services = config["services"]
    postgres, redis = REQUIRED["POSTGRES_PASSWORD"], REQUIRED["REDIS_PASSWORD"]
    assert _environment(services["postgres"])["POSTGRES_PASSWORD"] == postgres
    airflow = [name for name, service in services.items() if "AIRFLOW__CELERY__BROKER_URL" in _environment(service)]
    assert set(BACKEND) - {"postgres", "redis"} <= set(airflow)
    for name in airflow:
        env = _environment(services[name])
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(f"postgresql+psycopg2://airflow:{postgres}@"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith(f"db+postgresql+psycopg2://airflow:{postgres}@"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith(f"redis://:{redis}@"), name
    # Redis asks for it (requirepass), and the password is in no command line: redis-server reads its
    # configuration from stdin, and redis-cli (the health check) reads REDISCLI_AUTH.
    server = services["redis"]
    command = " ".join(server["command"])
    assert _environment(server)["REDISCLI_AUTH"] == redis
    assert "requirepass $REDISCLI_AUTH" in command and redis not in command
    assert re.search(r"redis-server -( |$)", command)
    check = " ".join(server["healthcheck"]["test"])
    assert "redis-cli" in check and "PONG" in check and redis not in check  # NOAUTH also exits 0


def test_stage_containers_get_a_network_shared_with_nothing_but_moto():
    """The workers start stages on VIDEO_PIPELINE_DOCKER_NETWORK_MODE. Before: the cluster's own network,
    where Postgres, Redis and the api-server answer to their names."""
    for env in (REQUIRED, {**REQUIRED, "COMPOSE_NETWORK": "media"}):
        alone = compose(env, BASE)
        workers = {_environment(alone["services"][name])["VIDEO_PIPELINE_DOCKER_NETWORK_MODE"]
                   for name in ("airflow-worker-cpu", "airflow-worker-gpu")}
        (stages,) = workers
        assert stages not in ("", "host", "bridge", "default")
        # With AWS: no service of the cluster joins it; the runner makes it, with no route out by default.
        assert all(stages not in _networks(alone, name) for name in alone["services"]), stages
        assert _environment(alone["services"]["airflow-worker-cpu"])["VIDEO_PIPELINE_DOCKER_NETWORK_EGRESS"] == "false"
        # With moto: moto joins it, and nothing else; no address of the host on it, no route out of it.
        with_moto = compose(env)
        (network,) = [net for net in with_moto["networks"].values() if (net or {}).get("name") == stages]
        assert network["internal"] in (True, "true")
        assert network["driver_opts"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
        members = {name for name in with_moto["services"] if stages in _networks(with_moto, name)}
        assert members == {"moto"}
        for name in BACKEND:
            assert stages not in _networks(with_moto, name), name


def test_no_service_gets_aws_keys_in_its_environment():
    """Keys in a container's environment are in `docker inspect` and in every process's /proc/*/environ.
    Before: every Airflow container (and moto-bootstrap) got AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
    env = {**REQUIRED, "AWS_ACCESS_KEY_ID": "AKIAEXPORTEDBYMISTAKE", "AWS_SECRET_ACCESS_KEY": "exported-by-mistake"}
    for files in ((BASE,), (BASE, MOTO)):
        config = compose(env, *files)
        for name, service in config["services"].items():
            environment = _environment(service)
            assert not set(CREDENTIAL_VARIABLES) & set(environment), (files, name)
            assert "exported-by-mistake" not in json.dumps(service), (files, name)
            if "AWS_SHARED_CREDENTIALS_FILE" in environment:  # a secret file, mounted read-only by Compose
                (secret,) = service["secrets"]
                assert environment["AWS_SHARED_CREDENTIALS_FILE"] == f"/run/secrets/{secret}"
        assert {name for name, s in config["services"].items() if "AWS_SHARED_CREDENTIALS_FILE" in _environment(s)} \
            >= set(BACKEND) - {"postgres", "redis"}


def test_the_docker_runner_passes_no_credentials_to_a_stage_container(monkeypatch, tmp_path):
    """The operator a Celery worker of the compose cluster builds: its container's environment (what
    `docker inspect` shows, private_environment included), its rendered fields and its command carry no
    key; the keys come from the credentials file, mounted read-only, on the stage network.
    Before: the worker's AWS keys went into every stage container's environment (private_environment)."""
    from docker.types import Mount

    from operators.docker_stage import VideoStageDockerOperator
    from operators.video_stage import video_stage
    from video_pipeline.config import Settings

    secret = "stage-must-not-see-this-0123456789"
    worker = _environment(compose(REQUIRED)["services"]["airflow-worker-cpu"])
    for name, value in {**worker, "AWS_ACCESS_KEY_ID": "AKIAWORKERKEY", "AWS_SECRET_ACCESS_KEY": secret,
                        "AWS_SESSION_TOKEN": secret}.items():
        monkeypatch.setenv(name, value)
    from video_contract.stages import Stage
    from video_pipeline.registration import Registration

    video = Registration(video_id="abc", bucket="video-pipeline", key="incoming/a.mp4", etag="0" * 32, name=None,
                         source="s3://video-pipeline/incoming/a.mp4", work="s3://video-pipeline/work/abc", done=False)
    task = video_stage(stage=Stage.TRANSCODE, registration=video.to_json(), settings=Settings.from_env())
    assert isinstance(task, VideoStageDockerOperator)
    task.render_template_fields({"params": {"ladder": "360"}, "task": task})
    assert isinstance(task.command, list) and task.command[-2:] == ["--ladder", "360"]
    container_env = {**task.environment, **task._private_environment}
    assert not set(CREDENTIAL_VARIABLES) & set(container_env)
    rendered = {field: getattr(task, field) for field in task.template_fields}
    assert secret not in json.dumps([container_env, task.command, rendered], default=str)
    from video_pipeline.containers import CREDENTIALS_TARGET

    assert container_env["AWS_SHARED_CREDENTIALS_FILE"] == CREDENTIALS_TARGET
    assert Mount(target=CREDENTIALS_TARGET, source=REQUIRED["AWS_CREDENTIALS_FILE"], type="bind",
                 read_only=True) in task.mounts
    assert task.network_mode == worker["VIDEO_PIPELINE_DOCKER_NETWORK_MODE"] and task.network_egress is False


def test_helm_values_use_an_external_database_and_every_stage_pod_has_limits(monkeypatch):
    """Before: the chart's embedded Postgres (its default password), and stage pods with requests only,
    so one video could take a node's memory."""
    from video_pipeline.config import Settings
    from video_pipeline.pods import pod_options

    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"] and "metadataConnection" not in values["data"]
    for item in values["env"]:
        monkeypatch.setenv(item["name"], str(item["value"]))
    settings = Settings.from_env()
    for stage in ("transcode", "transcribe"):
        resources = pod_options(settings, stage)["container_resources"]
        assert resources.limits["cpu"] and resources.limits["memory"], stage
        assert resources.limits["memory"] == resources.requests["memory"], stage  # no overcommit of memory
