"""How the kubernetes runner's pods are set up, from ``VIDEO_PIPELINE_K8S_*`` settings.

The same worker image and CLI as the docker runner. GPU stages (transcribe, detect) request
``nvidia.com/gpu`` and go to the GPU nodes (node selector, tolerations). Every pod has CPU and memory
requests and limits (by default the same: a video that needs more memory is its own pod's OOM kill, not
the node's). Credentials never enter the pod spec: a Secret (``K8S_ENV_SECRET``) or the service
account's IAM role provides them.
"""

from __future__ import annotations

from typing import Any

from video_contract.exits import RESULT_FILE_VARIABLE
from video_pipeline.config import Settings, Toleration
from video_pipeline.containers import worker_environment
from video_pipeline.stages import GPU_STAGES

# The worker writes its result line here as well; the KubernetesPodOperator's sidecar serves it as XCom.
RESULT_FILE = "/airflow/xcom/return.json"
STAGE_LABEL = "video-pipeline/stage"


def toleration(entry: Toleration) -> Any:
    """A K8S_GPU_TOLERATIONS entry: Equal with a value, Exists without one."""
    from kubernetes.client import models as k8s

    return k8s.V1Toleration(key=entry.key, operator="Exists" if entry.value is None else "Equal", value=entry.value,
                            effect=entry.effect)


def pod_options(settings: Settings, stage: str) -> dict[str, Any]:
    """KubernetesPodOperator arguments for one stage's pod."""
    from kubernetes.client import models as k8s

    gpu = stage in GPU_STAGES
    requests = {"cpu": settings.k8s_cpu, "memory": settings.k8s_memory}
    limits = {"cpu": settings.k8s_cpu_limit or settings.k8s_cpu,
              "memory": settings.k8s_memory_limit or settings.k8s_memory,
              **({"nvidia.com/gpu": settings.k8s_gpus} if gpu else {})}
    env = {**worker_environment(), RESULT_FILE_VARIABLE: RESULT_FILE}
    secret = settings.k8s_env_secret
    return {
        "image": settings.worker_image,
        "cmds": [settings.worker_command],
        "namespace": settings.k8s_namespace,
        "service_account_name": settings.k8s_service_account or None,
        "in_cluster": settings.k8s_in_cluster,
        "labels": {STAGE_LABEL: stage, "app.kubernetes.io/name": "video-pipeline-worker"},
        "env_vars": [k8s.V1EnvVar(name=name, value=value) for name, value in sorted(env.items())],
        "env_from": [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=secret))] if secret else None,
        "container_resources": k8s.V1ResourceRequirements(requests=requests, limits=limits),
        "node_selector": dict(settings.k8s_gpu_node_selector) if gpu else None,
        "tolerations": [toleration(entry) for entry in settings.k8s_gpu_tolerations] if gpu else None,
    }
