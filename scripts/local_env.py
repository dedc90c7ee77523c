"""The local stack's environment: moto server as AWS, Airflow on SQLite, the admin, local weights.

One place for the settings that ``make up``, ``make demo``, the tests and the benchmarks share.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

import local_models

log = logging.getLogger("stack")

ROOT = Path(__file__).resolve().parents[1]
# Airflow's home, database and logs, moto's state, and the stack's pids and logs (git-ignored)
HOME = Path(os.environ.get("VIDEO_PIPELINE_LOCAL_HOME") or ROOT / ".airflow").resolve()
MOTO_STATE = HOME / "moto"  # S3, DynamoDB, SQS and SNS between make down and make up (moto_store.py)
ADMIN = "admin"
MOTO_ACCOUNT = "123456789012"
REGION = "us-east-1"
MOTO_PORT = int(os.environ.get("VIDEO_PIPELINE_LOCAL_PORT", "5000"))
AIRFLOW_PORT = int(os.environ.get("VIDEO_PIPELINE_AIRFLOW_PORT", "8080"))
LICENSE_PORT = int(os.environ.get("VIDEO_PIPELINE_LICENSE_PORT", "5001"))
WEBHOOK_PORT = int(os.environ.get("VIDEO_PIPELINE_WEBHOOK_PORT", "5002"))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (until someone takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_endpoint() -> str:
    return f"http://127.0.0.1:{MOTO_PORT}"


def admin_password(home: Path) -> str:
    """The admin's password for the simple auth manager, generated once per Airflow home."""
    path = home / "passwords.json"
    passwords = json.loads(path.read_text()) if path.is_file() else {}
    if ADMIN not in passwords:
        passwords[ADMIN] = secrets.token_urlsafe(12)
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords))
        path.chmod(0o600)
    return passwords[ADMIN]


def license_env(home: Path) -> dict[str, str]:
    """The license endpoint's token secret: yours if set, else one generated once per Airflow home.

    Only the license server and token minting need it (``make -s env`` exports it); Airflow does not.
    """
    if os.environ.get("VIDEO_PIPELINE_LICENSE_SECRET"):
        return {"VIDEO_PIPELINE_LICENSE_SECRET": os.environ["VIDEO_PIPELINE_LICENSE_SECRET"]}
    path = home / "license-secret"
    if not path.is_file():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return {"VIDEO_PIPELINE_LICENSE_SECRET": path.read_text().strip()}


def webhook_secret_file(home: Path) -> Path:
    """The demo webhook's HMAC secret, generated once per Airflow home; the receiver reads this file."""
    path = home / "webhook-secret"
    if not path.is_file():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path


def webhook_env(home: Path) -> dict[str, str]:
    """Airflow's side of the demo webhook: the local receiver's URL (unless yours is set), and the secret as
    the Airflow Variable that WEBHOOK_SECRET_VARIABLE names (an ``AIRFLOW_VAR_`` variable, never an argument)."""
    from video_pipeline.config import Settings

    variable = "AIRFLOW_VAR_" + Settings.from_env().webhook_secret_variable.upper()
    return {"VIDEO_PIPELINE_WEBHOOK_URLS": os.environ.get("VIDEO_PIPELINE_WEBHOOK_URLS")
            or f"http://127.0.0.1:{WEBHOOK_PORT}/events",
            variable: webhook_secret_file(home).read_text().strip()}


def docker_credentials_file(home: Path) -> str:
    """The local keys as a shared credentials file, for the docker runner's containers: they get keys from
    a file mounted read-only, never in their environment (containers.py)."""
    path = home / "aws-credentials"
    if not path.is_file():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("[default]\naws_access_key_id = local\naws_secret_access_key = local\n")
    return str(path)


def worker_models() -> dict[str, str]:
    """Local weights where this machine has them; otherwise the worker downloads the standard models."""
    try:
        return local_models.worker_env("base")
    except (FileNotFoundError, ImportError, StopIteration, AttributeError) as exc:
        log.warning("local model weights not found (%s); models will be downloaded on first use", exc)
        return {}


def events_queue_url(endpoint: str) -> str:
    """moto names queues after its default account; on AWS, bootstrap prints the URL to set."""
    from video_pipeline.config import Settings

    queue = Settings.from_env().events_queue
    return os.environ.get("VIDEO_PIPELINE_EVENTS_QUEUE_URL") or (f"{endpoint}/{MOTO_ACCOUNT}/{queue}" if queue else "")


def airflow_env(home: Path, endpoint: str, port: int = AIRFLOW_PORT) -> dict[str, str]:
    """The variables for Airflow and its worker subprocesses; lay them over ``os.environ``."""
    admin_password(home)  # the api-server reads the file; create it before anything starts
    models = worker_models()
    base_url = f"http://localhost:{port}"
    python_path = os.pathsep.join(p for p in (str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the DAG only runs when triggered
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",  # a laptop needs one; the default starts four
        "AIRFLOW__CORE__PARALLELISM": "8",  # LocalExecutor starts this many worker processes
        # Parsing the DAG files every 30 s (the default) kept 0.07 of this machine's 2 cores busy on an idle
        # stack, 120 s half that (BENCHMARKS.md); an edited DAG shows within 2 minutes (`airflow dags reserialize`).
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",  # standalone runs a triggerer: sensors wait there
        "VIDEO_PIPELINE_EVENTS_QUEUE_URL": events_queue_url(endpoint),
        "VIDEO_PIPELINE_LICENSE_URL": os.environ.get("VIDEO_PIPELINE_LICENSE_URL")
        or f"http://127.0.0.1:{LICENSE_PORT}/clearkey",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": REGION}}),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONPATH": python_path,
        # the venv's airflow and video-worker, also when this runs without make
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **models,
        # With VIDEO_PIPELINE_RUNNER=docker: containers reach moto on this host's loopback, and the weights.
        "VIDEO_PIPELINE_DOCKER_NETWORK_MODE": os.environ.get("VIDEO_PIPELINE_DOCKER_NETWORK_MODE") or "host",
        "VIDEO_PIPELINE_DOCKER_MOUNTS": os.environ.get("VIDEO_PIPELINE_DOCKER_MOUNTS")
        or local_models.docker_mounts(models),
        "VIDEO_PIPELINE_DOCKER_AWS_CREDENTIALS_FILE": os.environ.get("VIDEO_PIPELINE_DOCKER_AWS_CREDENTIALS_FILE")
        or docker_credentials_file(home),
    }
