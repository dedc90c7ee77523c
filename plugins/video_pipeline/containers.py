"""How the docker runner's containers are set up, from ``VIDEO_PIPELINE_DOCKER_*`` settings.

A deployment decides the network (``host`` to reach an S3 endpoint on the host's loopback), the
mounts (a model cache, local weights), the user, the limits and the GPUs; the DAG stays the same.
"""

from __future__ import annotations

import os
from typing import Any

from video_pipeline.config import Settings
from video_pipeline.stages import BACKGROUND_CPU_SHARE, BACKGROUND_STAGES, GPU_STAGES

# What the worker needs from the orchestrator's environment: S3 endpoint and region, model settings.
PASSED_ENV_PREFIXES = ("VIDEO_WORKER_", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION",
                       "HF_HUB_OFFLINE", "YOLO_OFFLINE")
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# Every stage container carries these labels, so operators (and tests) can find them.
STAGE_LABEL = "org.video-pipeline.stage"


def worker_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}


def parse_mounts(text: str) -> list[Any]:
    """``SOURCE:TARGET[:ro|rw],...`` as Docker bind mounts."""
    from docker.types import Mount

    mounts = []
    for spec in filter(None, (part.strip() for part in text.split(","))):
        source, _, rest = spec.partition(":")
        target, _, mode = rest.partition(":")
        if not source.startswith("/") or not target.startswith("/") or mode not in ("", "ro", "rw"):
            raise ValueError(f"VIDEO_PIPELINE_DOCKER_MOUNTS: {spec!r} is not SOURCE:TARGET[:ro|rw] "
                             "with absolute paths")
        mounts.append(Mount(target=target, source=source, type="bind", read_only=mode == "ro"))
    return mounts


def gpu_requests(gpus: str) -> list[Any]:
    """``all``, a count, or ``none`` (a host without the NVIDIA container toolkit)."""
    from docker.types import DeviceRequest

    if gpus in ("", "none", "0"):
        return []
    count = -1 if gpus == "all" else int(gpus)
    return [DeviceRequest(count=count, capabilities=[["gpu"]])]


def container_options(settings: Settings, stage: str) -> dict[str, Any]:
    """DockerOperator arguments for one stage's container."""
    options: dict[str, Any] = {
        "image": settings.worker_image,
        "docker_url": settings.docker_url,
        "network_mode": settings.docker_network_mode or None,
        "mounts": parse_mounts(settings.docker_mounts),
        "user": settings.docker_user or None,
        # DockerOperator turns cpus into CPU shares: a weight that matters only while the host is busy.
        "cpus": float(settings.docker_cpus) * (BACKGROUND_CPU_SHARE if stage in BACKGROUND_STAGES else 1),
        "mem_limit": settings.docker_memory or None,
        "labels": {STAGE_LABEL: stage},
        "environment": worker_environment(),
        # Passed to the container, never rendered, logged or stored with the task.
        "private_environment": {k: os.environ[k] for k in AWS_CREDENTIALS if k in os.environ},
    }
    if stage in GPU_STAGES:
        options["queue"] = "gpu"
        options["device_requests"] = gpu_requests(settings.docker_gpus)
    return options
