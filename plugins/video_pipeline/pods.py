"""How the kubernetes runner's pods are set up, from ``VIDEO_PIPELINE_K8S_*`` settings.

The same worker image and CLI as the docker runner. GPU stages (transcribe, detect) request
``nvidia.com/gpu`` and go to the GPU nodes (node selector, tolerations). Every pod has CPU and memory
requests and limits (by default the same: a video that needs more memory is its own pod's OOM kill, not
the node's). Credentials never enter the pod spec: a Secret (``K8S_ENV_SECRET``) or the service
account's IAM role provides them.
"""

from __future__ import annotations

from typing import Any

from video_pipeline.config import Settings
from video_pipeline.containers import worker_environment
from video_pipeline.stages import GPU_STAGES

# The worker writes its result line here as well; the KubernetesPodOperator's sidecar serves it as XCom.
RESULT_FILE = "/airflow/xcom/return.json"
STAGE_LABEL = "video-pipeline/stage"


def parse_selector(text: str) -> dict[str, str]:
    """``key=value,...`` as a node selector."""
    selector = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"VIDEO_PIPELINE_K8S_GPU_NODE_SELECTOR: {part!r} is not key=value")
        selector[key] = value
    return selector


def parse_tolerations(text: str) -> list[Any]:
    """``key[=value]:Effect,...``: Equal with a value, Exists without one."""
    from kubernetes.client import models as k8s

    tolerations = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        spec, sep, effect = part.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(f"VIDEO_PIPELINE_K8S_GPU_TOLERATIONS: {part!r} is not key[=value]:Effect")
        key, has_value, value = spec.partition("=")
        tolerations.append(k8s.V1Toleration(key=key, operator="Equal" if has_value else "Exists",
                                            value=value if has_value else None, effect=effect))
    return tolerations


def pod_options(settings: Settings, stage: str) -> dict[str, Any]:
    """KubernetesPodOperator arguments for one stage's pod."""
    from kubernetes.client import models as k8s

    gpu = stage in GPU_STAGES
    requests = {"cpu": settings.k8s_cpu, "memory": settings.k8s_memory}
    limits = {"cpu": settings.k8s_cpu_limit or settings.k8s_cpu,
              "memory": settings.k8s_memory_limit or settings.k8s_memory,
              **({"nvidia.com/gpu": settings.k8s_gpus} if gpu else {})}
    env = {**worker_environment(), "VIDEO_WORKER_RESULT_FILE": RESULT_FILE}
    secret = settings.k8s_env_secret
    return {
        "image": settings.worker_image,
        "cmds": [settings.worker_command],
        "namespace": settings.k8s_namespace,
        "service_account_name": settings.k8s_service_account or None,
        "in_cluster": settings.k8s_in_cluster.lower() == "true",
        "labels": {STAGE_LABEL: stage, "app.kubernetes.io/name": "video-pipeline-worker"},
        "env_vars": [k8s.V1EnvVar(name=name, value=value) for name, value in sorted(env.items())],
        "env_from": [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=secret))] if secret else None,
        "container_resources": k8s.V1ResourceRequirements(requests=requests, limits=limits),
        "node_selector": parse_selector(settings.k8s_gpu_node_selector) if gpu else None,
        "tolerations": parse_tolerations(settings.k8s_gpu_tolerations) if gpu else None,
    }
