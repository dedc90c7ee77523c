"""The production path: the worker image and the docker runner, on a real Docker engine.

``make test-production`` starts the engine when none runs, builds the image, and points
``VIDEO_PIPELINE_WORKER_IMAGE`` at it. Containers use the host network, so they reach the
moto server that the session fixtures start on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess

import local_models
import pytest
from helpers import WorkerResult, docker_cli

from video_pipeline.containers import CREDENTIALS_TARGET

IMAGE = os.environ.get("VIDEO_PIPELINE_WORKER_IMAGE", "video-pipeline/worker:latest")


@pytest.fixture(scope="session")
def worker_image() -> str:
    """The image under test; the tests fail, with the reason, where there is no engine or no image."""
    info = docker_cli("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        pytest.fail(f"no Docker engine answers ({info.stderr.strip()}); make test-production starts one")
    if docker_cli("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail(f"the worker image {IMAGE} is missing: make image builds it")
    return IMAGE


@pytest.fixture(scope="session")
def aws_credentials_file(moto_endpoint, tmp_path_factory) -> str:
    """moto's keys as a shared credentials file: a stage container gets keys this way, never in its
    environment (VIDEO_PIPELINE_DOCKER_AWS_CREDENTIALS_FILE)."""
    path = tmp_path_factory.mktemp("aws") / "credentials"
    path.write_text(f"[default]\naws_access_key_id = {os.environ['AWS_ACCESS_KEY_ID']}\n"
                    f"aws_secret_access_key = {os.environ['AWS_SECRET_ACCESS_KEY']}\n")
    path.chmod(0o644)  # the image's user reads it; moto's keys are no secret
    return str(path)


@pytest.fixture(scope="session")
def container_env(moto_endpoint, model_env) -> dict[str, str]:
    """What a stage container gets: the local S3 endpoint, where its keys are (mounted), local weights."""
    return {**{k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")},
            "AWS_SHARED_CREDENTIALS_FILE": CREDENTIALS_TARGET, **model_env}


@pytest.fixture(scope="session")
def credentials_mount(aws_credentials_file) -> list[str]:
    """``docker run`` arguments: the keys' file, read-only where container_env says."""
    return ["-v", f"{aws_credentials_file}:{CREDENTIALS_TARGET}:ro"]


@pytest.fixture(scope="session")
def run_in_image(worker_image, container_env, credentials_mount, model_env):
    """``docker run IMAGE STAGE ...``: the worker CLI in its container, as the docker runner starts it."""
    mounts = [*credentials_mount, *[arg for d in local_models.model_dirs(model_env) for arg in ("-v", f"{d}:{d}:ro")]]

    def run(*args: str, env: dict[str, str] | None = None) -> WorkerResult:
        variables = {**container_env, **(env or {})}
        proc = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", *mounts,
             *[arg for name in variables for arg in ("-e", name)], worker_image, *map(str, args)],
            capture_output=True, text=True, env={**os.environ, **variables}, check=False, timeout=900,
        )
        lines = proc.stdout.strip().splitlines()
        return WorkerResult(proc.returncode, json.loads(lines[-1]) if lines else {}, proc.stderr)

    return run
