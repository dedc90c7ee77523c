"""How the docker runner's containers are set up, from ``VIDEO_PIPELINE_DOCKER_*`` settings.

A deployment decides the network (``host`` to reach an S3 endpoint on the host's loopback, or a
network of the stages' own), the mounts (a model cache, local weights), the AWS credentials file, the
user, the limits and the GPUs; the DAG stays the same. No AWS key is ever in a container's environment,
which ``docker inspect`` shows to anyone with the Docker socket: boto3 in the stage reads the mounted file.
"""

from __future__ import annotations

import os
from typing import Any

from video_pipeline.config import BindMount, Settings
from video_pipeline.stages import BACKGROUND_CPU_SHARE, BACKGROUND_STAGES, GPU_STAGES

# What the worker needs from the orchestrator's environment: S3 endpoint and region, model settings.
# Never credentials: no prefix here matches AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN.
PASSED_ENV_PREFIXES = ("VIDEO_WORKER_", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION",
                       "HF_HUB_OFFLINE", "YOLO_OFFLINE")
# Where a stage container finds the credentials file (DOCKER_AWS_CREDENTIALS_FILE), read-only.
CREDENTIALS_TARGET = "/run/secrets/aws-credentials"
# Every stage container carries these labels, so operators (and tests) can find them.
STAGE_LABEL = "org.video-pipeline.stage"
# Docker's own network modes, which exist on every engine: nothing to make.
DOCKER_NETWORKS = ("host", "bridge", "none", "default")
# A bridge with no address of the host on it: its containers reach each other and nothing else, on any
# engine (Docker's "internal" alone is firewall rules, which an engine run with --iptables=false lacks).
NO_HOST_ADDRESS = {"com.docker.network.bridge.inhibit_ipv4": "true"}


def worker_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}


def bind_mount(mount: BindMount) -> Any:
    """A DOCKER_MOUNTS entry as a Docker bind mount."""
    from docker.types import Mount

    return Mount(target=mount.target, source=mount.source, type="bind", read_only=mount.read_only)


def credentials_mount(path: str) -> Any:
    """The host's AWS shared credentials file, read-only at CREDENTIALS_TARGET."""
    from docker.types import Mount

    if not path.startswith("/"):
        raise ValueError(f"VIDEO_PIPELINE_DOCKER_AWS_CREDENTIALS_FILE: {path!r} is not an absolute path on the "
                         "Docker host")
    return Mount(target=CREDENTIALS_TARGET, source=path, type="bind", read_only=True)


def ensure_network(cli: Any, name: str | None, *, egress: bool) -> bool:
    """Make the stages' network if no one has; True if this made it.

    With moto, Compose makes it for moto (docker-compose.moto.yml); with AWS S3 no service of the
    cluster joins it, so the first stage does: internal with no address of the host, or with egress a
    plain bridge, still apart from the cluster's network.
    """
    from docker.errors import APIError, NotFound

    if not name or name in DOCKER_NETWORKS or name.startswith("container:"):
        return False
    try:
        cli.inspect_network(name)
        return False
    except NotFound:
        pass
    try:
        cli.create_network(name, driver="bridge", internal=not egress, options=None if egress else NO_HOST_ADDRESS,
                           labels={STAGE_LABEL: "network"}, check_duplicate=True)
    except APIError as error:
        if error.status_code != 409:  # 409: another stage made it meanwhile
            raise
        return False
    return True


def gpu_requests(gpus: str) -> list[Any]:
    """``all``, a count, or ``none`` (a host without the NVIDIA container toolkit)."""
    from docker.types import DeviceRequest

    if gpus in ("", "none", "0"):
        return []
    count = -1 if gpus == "all" else int(gpus)
    return [DeviceRequest(count=count, capabilities=[["gpu"]])]


def container_options(settings: Settings, stage: str) -> dict[str, Any]:
    """DockerOperator arguments for one stage's container."""
    mounts, environment = [bind_mount(mount) for mount in settings.docker_mounts], worker_environment()
    if settings.docker_aws_credentials_file:
        mounts.append(credentials_mount(settings.docker_aws_credentials_file))
        environment["AWS_SHARED_CREDENTIALS_FILE"] = CREDENTIALS_TARGET
    options: dict[str, Any] = {
        "image": settings.worker_image,
        "docker_url": settings.docker_url,
        "network_mode": settings.docker_network_mode or None,
        "network_egress": settings.docker_network_egress,
        "mounts": mounts,
        "user": settings.docker_user or None,
        # DockerOperator turns cpus into CPU shares: a weight that matters only while the host is busy.
        "cpus": settings.docker_cpus * (BACKGROUND_CPU_SHARE if stage in BACKGROUND_STAGES else 1),
        "mem_limit": settings.docker_memory or None,
        "labels": {STAGE_LABEL: stage},
        "environment": environment,
    }
    if stage in GPU_STAGES:
        options["queue"] = "gpu"
        options["device_requests"] = gpu_requests(settings.docker_gpus)
    return options
