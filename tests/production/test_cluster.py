"""The production cluster of docker-compose.airflow.yml, running for real with the moto override.

Postgres, Redis, the api-server, scheduler, dag-processor, triggerer, a CPU Celery worker (queue
``default``) and a GPU-labelled one (queue ``gpu``), from the Airflow image and the stand-ins for the
official images (``make cluster-images``). Postgres and Redis refuse a client without their passwords,
and a container on the stages' network reaches moto and nothing else of the cluster. Two uploads start
runs through S3 events; the scheduler and the CPU worker restart in the middle of the first, whose stage
containers are inspected as they run (the stages' network only, no AWS key); the CPU worker is scaled to
two for the second. The task instances in Postgres show where every task ran. A GPU worker then joins
as another host would, with docs/production.md's command, and takes over queue ``gpu``. Nothing is left afterwards.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import local_models
import psycopg2
import pytest
import redis
from helpers import docker_cli, wait_until
from local_env import free_port

from video_pipeline.containers import CREDENTIALS_TARGET, STAGE_LABEL
from video_pipeline.identity import video_id

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "vp-cluster-test"
SECOND_HOST = "vp-cluster-test-gpu-host"  # a GPU worker as another host would run it
STAGES_NETWORK = f"{PROJECT}-stages"  # the stage containers' network: moto's, no one else's
MOTO_CREDENTIALS = ROOT / "deploy" / "compose" / "moto-credentials"  # docs/production.md: AWS_CREDENTIALS_FILE, moto
BUCKET = "video-pipeline"
TABLE = "videos"
GPU_TASKS = {"transcribe", "detect"}
REVIEW_TASKS = {"review_captions", "captions"}  # run only when a run asks for caption review
# What stands in for the official images here (make cluster-images builds them from Debian).
STANDINS = {
    "AIRFLOW_IMAGE": "video-pipeline/airflow:latest",
    "POSTGRES_IMAGE": "video-pipeline/postgres:standin",
    "REDIS_IMAGE": "video-pipeline/redis:standin",
    "MOTO_IMAGE": "video-pipeline/moto:standin",
}
RUN_TIMEOUT_S = 900
SERVICES = ("postgres", "redis", "moto", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "airflow-worker-cpu", "airflow-worker-gpu")
ARTIFACTS = ROOT / "test-artifacts"


def compose_command() -> list[str]:
    """Compose v2 (``docker compose``) where the plugin is installed, else docker-compose 1.29."""
    if docker_cli("compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")


class Cluster:
    """``docker compose -p PROJECT -f docker-compose.airflow.yml -f docker-compose.moto.yml -f <this host's>``."""

    def __init__(self, files: list[Path], env: dict[str, str], *, moto: str, api: str, project: str = PROJECT) -> None:
        self.base = [*compose_command(), "-p", project, *[arg for f in files for arg in ("-f", str(f))]]
        self.env, self.moto, self.api = env, moto, api
        self.runs: list[str] = []  # the runs the tests published, in order
        self.worker_env: dict[str, str] = {}  # what this host's file adds to the workers' environment
        self.stage_containers: dict[str, dict] = {}  # docker inspect of stage containers seen running, by stage

    def __call__(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*self.base, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} exited {proc.returncode}: {proc.stderr[-3000:]}")
        return proc

    def sql(self, query: str) -> list[list[str]]:
        out = self("exec", "-T", "postgres", "psql", "-U", "airflow", "-d", "airflow", "-At", "-F", "\t",
                   "-c", query).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def containers(self, service: str) -> dict[str, dict]:
        """This service's running containers by hostname (what Airflow records as a task's hostname)."""
        ids = self("ps", "-q", service).stdout.split()
        infos = json.loads(docker_cli("inspect", *ids).stdout) if ids else []
        return {info["Config"]["Hostname"]: info for info in infos if info["State"]["Running"]}

    def task_instances(self, run_id: str) -> list[dict[str, str]]:
        rows = self.sql("SELECT task_id, state, queue, coalesce(hostname, ''), try_number FROM task_instance "
                        f"WHERE dag_id = 'video_pipeline' AND run_id = '{run_id}'")
        return [dict(zip(("task", "state", "queue", "hostname", "try"), row)) for row in rows]


def _clip(path: Path, seconds: int, picture: Path, text: str) -> Path:
    """A short clip: a test pattern, then a picture, with espeak-ng speech."""
    speech = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech), text], check=True)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2", "-loop", "1", "-framerate", "25",
                    "-t", str(seconds - 2), "-i", str(picture), "-i", str(speech), "-filter_complex",
                    ("[1:v]scale=640:360:force_original_aspect_ratio=increase,crop=640:360,setsar=1[p];"
                     f"[0:v][p]concat=n=2:v=1:a=0[v];[2:a]apad,atrim=0:{seconds}[a]"),
                    "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-t", str(seconds), str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    import cv2
    from skimage import data

    folder = tmp_path_factory.mktemp("cluster-media")
    pictures = []
    for name, image in (("chelsea", data.chelsea()), ("astronaut", data.astronaut())):
        pictures.append(folder / f"{name}.png")
        cv2.imwrite(str(pictures[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return [_clip(folder / "cat.mp4", 8, pictures[0], "A cat sits under a tree and looks at the camera."),
            _clip(folder / "astronaut.mp4", 7, pictures[1], "An astronaut stands in front of the flag.")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, worker_image) -> Iterator[Cluster]:
    images = {name: os.environ.get(name) or image for name, image in STANDINS.items()}
    for image in images.values():
        if docker_cli("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"the image {image} is missing: make cluster-images builds it")
    models = local_models.worker_env("tiny.en")
    # This host's part: local weights, mounted into the stage containers, and the GPU queue's
    # containers on the CPU (no NVIDIA toolkit here).
    host = tmp_path_factory.mktemp("cluster") / "docker-compose.host.yml"
    worker_env = {**models, "VIDEO_PIPELINE_DOCKER_MOUNTS": local_models.docker_mounts(models),
                  "VIDEO_PIPELINE_RETRY_DELAY_S": "5"}
    host.write_text(json.dumps({"version": "3.8", "services": {
        "airflow-worker-cpu": {"environment": worker_env},
        "airflow-worker-gpu": {"environment": {**worker_env, "VIDEO_PIPELINE_DOCKER_GPUS": "none"}},
    }}))
    ports = {"AIRFLOW_PORT": free_port(), "MOTO_PORT": free_port()}
    # Published on every address, as for workers on other hosts (the second host below).
    published = {"POSTGRES_PUBLISH": f"0.0.0.0:{free_port()}", "REDIS_PUBLISH": f"0.0.0.0:{free_port()}"}
    env = {**os.environ, **images, **{k: str(v) for k, v in ports.items()}, **published, "COMPOSE_NETWORK": PROJECT,
           "VIDEO_PIPELINE_WORKER_IMAGE": worker_image, "AIRFLOW_JWT_SECRET": secrets.token_hex(32),
           "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
           "POSTGRES_PASSWORD": secrets.token_hex(24), "REDIS_PASSWORD": secrets.token_hex(24),
           "AWS_CREDENTIALS_FILE": str(MOTO_CREDENTIALS)}
    cluster = Cluster([ROOT / "docker-compose.airflow.yml", ROOT / "docker-compose.moto.yml", host], env,
                      moto=f"http://127.0.0.1:{ports['MOTO_PORT']}", api=f"http://127.0.0.1:{ports['AIRFLOW_PORT']}")
    cluster.worker_env = worker_env
    cluster("down", "-v", "--remove-orphans", check=False)  # what an interrupted session left
    try:
        cluster("up", "-d", timeout=900)
        yield cluster
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "cluster.log").write_text(cluster("logs", "--no-color", "--tail", "200", check=False).stdout)
        cluster("down", "-v", "--remove-orphans", "-t", "60", check=False)


@pytest.fixture(scope="module")
def second_host(cluster, tmp_path_factory) -> Iterator[Cluster]:
    """A GPU worker started as docs/production.md says for another host: its own project and network, reaching
    Postgres, Redis and the api-server through the main host's published ports (here its gateway), and
    S3 (here moto, through the gateway too) from stage containers on a network with a route out
    (STAGE_EGRESS=true), which the first of them makes."""
    gateway = docker_cli("network", "inspect", PROJECT, "-f", "{{(index .IPAM.Config 0).Gateway}}").stdout.strip()
    port = {name: cluster.env[name].rsplit(":", 1)[-1] for name in ("POSTGRES_PUBLISH", "REDIS_PUBLISH", "AIRFLOW_PORT",
                                                                    "MOTO_PORT")}
    s3 = f"http://{gateway}:{port['MOTO_PORT']}"  # on a real second host: AWS itself, nothing to set
    override = tmp_path_factory.mktemp("second-host") / "docker-compose.host.yml"
    override.write_text(json.dumps({"version": "3.8", "services": {"airflow-worker-gpu": {"environment": {
        **cluster.worker_env, "VIDEO_PIPELINE_DOCKER_GPUS": "none", "AWS_ENDPOINT_URL": s3,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "extra": {"endpoint_url": s3}})}}}}))
    env = {**cluster.env, "COMPOSE_NETWORK": SECOND_HOST, "POSTGRES_ADDRESS": f"{gateway}:{port['POSTGRES_PUBLISH']}",
           "REDIS_ADDRESS": f"{gateway}:{port['REDIS_PUBLISH']}",
           "AIRFLOW_API_URL": f"http://{gateway}:{port['AIRFLOW_PORT']}", "STAGE_EGRESS": "true"}
    host = Cluster([ROOT / "docker-compose.airflow.yml", override], env, moto=cluster.moto, api=cluster.api,
                   project=SECOND_HOST)
    try:
        host("up", "-d", "--no-deps", "airflow-worker-gpu", timeout=300)
        yield host
    finally:
        host("down", "-v", "--remove-orphans", "-t", "60", check=False)
        docker_cli("network", "rm", f"{SECOND_HOST}-stages", check=False)  # the runner's, not Compose's


def _upload(cluster: Cluster, clip: Path, key: str | None = None) -> str:
    """Put the clip under incoming/ as a user would; the video's id, from its ETag."""
    s3 = boto3.client("s3", endpoint_url=cluster.moto, region_name="us-east-1",
                      aws_access_key_id="moto", aws_secret_access_key="moto")
    key = key or f"incoming/{clip.name}"
    s3.upload_file(str(clip), BUCKET, key)
    return video_id(BUCKET, key, s3.head_object(Bucket=BUCKET, Key=key)["ETag"])


def _item(cluster: Cluster, vid: str) -> dict[str, str]:
    dynamodb = boto3.client("dynamodb", endpoint_url=cluster.moto, region_name="us-east-1",
                            aws_access_key_id="moto", aws_secret_access_key="moto")
    item = dynamodb.get_item(TableName=TABLE, Key={"video_id": {"S": vid}}).get("Item", {})
    return {name: next(iter(value.values())) for name, value in item.items()}


def _published(cluster: Cluster, vid: str) -> dict[str, str]:
    def check():
        item = _item(cluster, vid)
        assert item.get("status") != "failed", f"{vid} failed: {item}"
        return item if item.get("status") == "published" else None

    return wait_until(check, RUN_TIMEOUT_S, f"video {vid} published", every_s=5)


def _started_at(info: dict) -> datetime:
    return datetime.fromisoformat(info["State"]["StartedAt"][:26].rstrip("Z")).replace(tzinfo=UTC)


def _health(cluster: Cluster) -> dict[str, str]:
    """Each component's status from the api-server's health endpoint ({} while it does not answer)."""
    try:
        health = json.loads(urllib.request.urlopen(f"{cluster.api}/api/v2/monitor/health", timeout=10).read())
    except OSError:
        return {}
    return {name: part["status"] for name, part in health.items()}


def test_the_cluster_starts_every_service(cluster):
    running = {service: cluster.containers(service) for service in SERVICES}
    assert {service for service, containers in running.items() if len(containers) == 1} == set(SERVICES)
    components = {"metadatabase", "scheduler", "triggerer", "dag_processor"}
    wait_until(lambda: set(_health(cluster).items()) >= {(c, "healthy") for c in components}, 300,
               "every component healthy")
    wait_until(lambda: cluster.sql("SELECT count(*) FROM dag WHERE dag_id IN ('video_pipeline', 'video_events') "
                                   "AND NOT is_paused") == [["2"]], 120, "the DAGs parsed and unpaused")
    # Manifests carry any text (a chapter's title ends in "…"): the database takes it as the official image's does.
    assert cluster.sql("SHOW server_encoding") == [["UTF8"]]


def _published_port(cluster: Cluster, name: str) -> int:
    return int(cluster.env[name].rsplit(":", 1)[-1])


def test_postgres_and_redis_refuse_a_client_without_their_passwords(cluster):
    """On their published ports (as for workers on other hosts). Before: Postgres took the password
    "airflow" by default, and Redis took anyone."""
    postgres = {"host": "127.0.0.1", "port": _published_port(cluster, "POSTGRES_PUBLISH"), "user": "airflow",
                "dbname": "airflow", "connect_timeout": 10}
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(**postgres, password="airflow")
    psycopg2.connect(**postgres, password=cluster.env["POSTGRES_PASSWORD"]).close()
    broker = functools.partial(redis.Redis, host="127.0.0.1", port=_published_port(cluster, "REDIS_PUBLISH"),
                               socket_timeout=10)
    with pytest.raises(redis.AuthenticationError):
        broker().ping()
    assert broker(password=cluster.env["REDIS_PASSWORD"]).ping()


# Run in the worker image on the stages' network: each target's outcome, "open" where a TCP connection is made
# (all at once: a name the network does not know takes the resolver's timeouts to fail).
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor

def connect(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        return "open"
    except OSError as error:
        return f"{type(error).__name__}: {error}"

with ThreadPoolExecutor(len(sys.argv) - 1) as pool:
    print(json.dumps(dict(zip(sys.argv[1:], pool.map(connect, sys.argv[1:])))))
"""


def test_a_stage_container_reaches_moto_and_nothing_else_of_the_cluster(cluster, worker_image):
    """What code in a stage container can connect to: moto, and neither Postgres, Redis nor the api-server,
    by name, by their addresses on the cluster's network, or through the host's published ports (the
    host is unreachable: no address of it on the stages' network). Before: the cluster's own network."""
    network = json.loads(docker_cli("network", "inspect", STAGES_NETWORK).stdout)[0]
    assert network["Internal"] and network["Options"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
    assert {c["Name"] for c in network["Containers"].values()} == {
        info["Name"].lstrip("/") for info in cluster.containers("moto").values()}
    gateway = json.loads(docker_cli("network", "inspect", PROJECT).stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    addresses = [f"{(info['NetworkSettings']['Networks'][PROJECT]['IPAddress'])}:{port}"
                 for service, port in (("postgres", 5432), ("redis", 6379), ("airflow-api-server", 8080))
                 for info in cluster.containers(service).values()]
    published = [f"{gateway}:{_published_port(cluster, name)}" for name in ("POSTGRES_PUBLISH", "REDIS_PUBLISH",
                                                                           "AIRFLOW_PORT")]
    targets = ["moto:5000", "postgres:5432", "redis:6379", "airflow-api-server:8080", *addresses, *published]
    run = docker_cli("run", "--rm", "--network", STAGES_NETWORK, "--entrypoint", "python", worker_image, "-c", PROBE,
                     *targets, timeout=120)
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome.pop("moto:5000") == "open", outcome
    assert len(outcome) == len(targets) - 1 and "open" not in outcome.values(), outcome


def _stage_containers_running(cluster: Cluster) -> list[dict]:
    """docker inspect of the stage containers running now, kept in cluster.stage_containers by stage."""
    ids = docker_cli("ps", "-q", "--filter", f"label={STAGE_LABEL}").stdout.split()
    found = json.loads(docker_cli("inspect", *ids, check=False).stdout or "[]") if ids else []
    cluster.stage_containers.update({info["Config"]["Labels"][STAGE_LABEL]: info for info in found})
    return found


def test_an_upload_is_published_through_a_scheduler_and_worker_restart(cluster, clips):
    vid = _upload(cluster, clips[0])
    run_id = wait_until(lambda: _item(cluster, vid).get("dag_run_id"), 180, "the upload started a run")
    wait_until(lambda: _stage_containers_running(cluster), 300, "a stage container runs", every_s=0.5)

    def cpu_task_running():
        return any(ti["state"] == "running" and ti["task"] not in GPU_TASKS for ti in cluster.task_instances(run_id))

    wait_until(cpu_task_running, 300, "a CPU task of the run is running", every_s=1)
    cluster("restart", "-t", "60", "airflow-scheduler")
    cluster("restart", "-t", "600", "airflow-worker-cpu")  # a warm shutdown: running tasks finish first
    (restarted,) = cluster.containers("airflow-worker-cpu").values()

    item = _published(cluster, vid)
    cluster.runs.append(run_id)
    assert item["dag_run_id"] == run_id
    starts = cluster.sql("SELECT task_id FROM task_instance WHERE dag_id = 'video_pipeline' "
                         f"AND run_id = '{run_id}' AND start_date > '{_started_at(restarted).isoformat()}'")
    assert starts, "no task of the run started after the CPU worker restarted: the restart was not mid-run"
    page = urllib.request.urlopen(item["page_url"].replace("localhost", "127.0.0.1"), timeout=30).read().decode()
    assert "cat" in page.lower()


def test_stage_containers_ran_on_the_stages_network_with_no_aws_key(cluster):
    """The containers the Celery workers started for the run above, inspected as they ran: on the stages'
    network alone, the keys' file mounted read-only, no key in their environment."""
    assert cluster.stage_containers, "no stage container was seen running"
    for stage, info in cluster.stage_containers.items():
        assert set(info["NetworkSettings"]["Networks"]) == {STAGES_NETWORK}, stage
        env = dict(item.split("=", 1) for item in info["Config"]["Env"])
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env), stage
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == CREDENTIALS_TARGET, stage
        (mount,) = [m for m in info["Mounts"] if m["Destination"] == CREDENTIALS_TARGET]
        assert (mount["Source"], mount["RW"]) == (str(MOTO_CREDENTIALS), False), stage


def test_scaled_cpu_workers_share_a_run(cluster, clips):
    cluster("up", "-d", "--no-recreate", "--scale", "airflow-worker-cpu=2", "airflow-worker-cpu", timeout=300)
    assert len(cluster.containers("airflow-worker-cpu")) == 2
    vid = _upload(cluster, clips[1])
    item = _published(cluster, vid)
    cluster.runs.append(item["dag_run_id"])
    hosts = {ti["hostname"] for ti in cluster.task_instances(item["dag_run_id"])
             if ti["task"] not in GPU_TASKS | REVIEW_TASKS}
    assert hosts == set(cluster.containers("airflow-worker-cpu")), hosts


def test_gpu_stages_ran_on_the_gpu_worker_and_everything_else_on_cpu_workers(cluster):
    assert len(cluster.runs) == 2, "the runs above did not publish"
    gpu_hosts, cpu_hosts = set(cluster.containers("airflow-worker-gpu")), set(cluster.containers("airflow-worker-cpu"))
    for run_id in cluster.runs:
        tasks = cluster.task_instances(run_id)
        assert GPU_TASKS < {ti["task"] for ti in tasks}
        for ti in tasks:
            if ti["task"] in REVIEW_TASKS:  # no review asked for: they skip (captions on a CPU worker, at once)
                assert ti["state"] == "skipped" and ti["hostname"] in cpu_hosts | {""}, ti
                continue
            assert ti["state"] == "success", ti
            gpu = ti["task"] in GPU_TASKS
            assert (ti["queue"], ti["hostname"] in (gpu_hosts if gpu else cpu_hosts)) == (
                "gpu" if gpu else "default", True), ti


def test_a_gpu_worker_on_another_host_joins_with_the_documented_command(cluster, second_host, clips):
    cluster("stop", "-t", "60", "airflow-worker-gpu")  # queue gpu is now served by the other host only
    (remote,) = second_host.containers("airflow-worker-gpu")
    vid = _upload(cluster, clips[0], key="incoming/from-the-gpu-host.mp4")
    tasks = cluster.task_instances(_published(cluster, vid)["dag_run_id"])
    assert {ti["hostname"] for ti in tasks if ti["task"] in GPU_TASKS} == {remote}
    assert {ti["queue"] for ti in tasks if ti["task"] in GPU_TASKS} == {"gpu"}


def test_teardown_leaves_no_container_volume_or_network(cluster, second_host):
    for compose in (second_host, cluster):
        compose("down", "-v", "--remove-orphans", "-t", "60")
    # The other host's stages made their network, with a route out (STAGE_EGRESS): not Compose's to remove.
    made = json.loads(docker_cli("network", "inspect", f"{SECOND_HOST}-stages").stdout)[0]
    assert (made["Internal"], STAGE_LABEL in made["Labels"]) == (False, True)
    docker_cli("network", "rm", f"{SECOND_HOST}-stages")
    for name in (PROJECT, SECOND_HOST):
        project = f"label=com.docker.compose.project={name}"
        assert docker_cli("ps", "-aq", "--filter", project).stdout.split() == []
        assert docker_cli("volume", "ls", "-q", "--filter", project).stdout.split() == []
        for network in (name, f"{name}-stages"):
            assert docker_cli("network", "ls", "-q", "--filter", f"name=^{network}$").stdout.split() == []
    assert docker_cli("ps", "-aq", "--filter", f"label={STAGE_LABEL}").stdout.split() == []
