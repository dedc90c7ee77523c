"""The production path: the worker image and the docker runner, on a real Docker engine.

``make test-production`` starts the engine when none runs, builds the image, and points
``VIDEO_PIPELINE_WORKER_IMAGE`` at it. Containers use the host network, so they reach the
moto server that the session fixtures start on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import local_models
from helpers import WorkerResult, docker_cli

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
def container_env(moto_endpoint, model_env) -> dict[str, str]:
    """What a stage container gets: the local S3 endpoint, credentials, local weights."""
    return {**{k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                          "AWS_DEFAULT_REGION")}, **model_env}


@pytest.fixture(scope="session")
def run_in_image(worker_image, container_env, model_env):
    """``docker run IMAGE STAGE ...``: the worker CLI in its container, as the docker runner starts it."""
    mounts = [arg for d in local_models.model_dirs(model_env) for arg in ("-v", f"{d}:{d}:ro")]

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
