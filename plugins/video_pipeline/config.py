"""Deployment settings, read from ``VIDEO_PIPELINE_*`` environment variables.

Reading the environment is cheap, so DAG files may use these at parse time; the
same names work for the embedded local stack and for a production cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_DEFAULTS = {
    "BUCKET": "video-pipeline",
    "TABLE": "videos",
    "INCOMING_PREFIX": "incoming/",
    "WORK_PREFIX": "work/",
    "SITE_PREFIX": "site/",
    "QUARANTINE_PREFIX": "quarantine/",
    "KEYS_PREFIX": "keys/",
    "PUBLIC_BASE_URL": "",
    "LICENSE_URL": "",
    # The license endpoint's HMAC secret for playback tokens (license.py); empty: it gives no key at all.
    "LICENSE_SECRET": "",
    "LICENSE_TOKEN_TTL_S": "3600",
    "AWS_CONN_ID": "aws_default",
    "RUNNER": "local",
    "WORKER_IMAGE": "video-pipeline/worker:latest",
    "WORKER_COMMAND": "video-worker",
    "DOCKER_URL": "unix://var/run/docker.sock",
    # The docker runner's containers: network, mounts (model cache), user, limits, GPUs.
    # A network named here that does not exist is made on first use, for the stages alone (containers.py):
    # internal, no route out, unless DOCKER_NETWORK_EGRESS is "true" (AWS S3 from a host without moto).
    "DOCKER_NETWORK_MODE": "",
    "DOCKER_NETWORK_EGRESS": "false",
    # The Docker host's path of an AWS shared credentials file, mounted read-only into every stage
    # container: its keys stay out of the container's environment (docker inspect); empty: none (a role).
    "DOCKER_AWS_CREDENTIALS_FILE": "",
    "DOCKER_MOUNTS": "",
    "DOCKER_USER": "",
    "DOCKER_CPUS": "1",
    "DOCKER_MEMORY": "",
    "DOCKER_GPUS": "all",
    # The kubernetes runner's pods: namespace, service account, requests, and where GPU stages go.
    # K8S_ENV_SECRET names a Kubernetes Secret whose keys become the pods' environment (credentials
    # stay out of the pod spec); on EKS an IAM role for the service account needs none.
    "K8S_NAMESPACE": "default",
    "K8S_SERVICE_ACCOUNT": "",
    "K8S_IN_CLUSTER": "true",
    "K8S_ENV_SECRET": "",
    "K8S_CPU": "1",
    "K8S_MEMORY": "4Gi",
    # Each pod's limits; empty: its request (memory past it is an OOM kill of the pod, not of the node).
    "K8S_CPU_LIMIT": "",
    "K8S_MEMORY_LIMIT": "",
    "K8S_GPUS": "1",
    "K8S_GPU_NODE_SELECTOR": "nvidia.com/gpu.present=true",
    "K8S_GPU_TOLERATIONS": "nvidia.com/gpu:NoSchedule",
    # Retries of every task; permanent input errors and invalid options never retry.
    "RETRIES": "3",
    "RETRY_DELAY_S": "20",
    # A stage's execution_timeout: its base plus its factor times the video's duration (stage_timeouts.py);
    # STAGE_TIMEOUTS overrides it per stage in seconds, e.g. "transcode=3600,detect=1800".
    "STAGE_TIMEOUTS": "",
    # A run still unfinished this long after it was queued is flagged stuck (stuck_since in the item).
    "RUN_DEADLINE_MINUTES": "120",
    # Triggers: what counts as a video upload, how often to poll, where S3 events arrive.
    "VIDEO_EXTENSIONS": "mp4,m4v,mov,mkv,webm,avi,mpg,mpeg,ts,mts,m2ts,mxf,flv,wmv,ogv,3gp",
    "DISCOVERY_SCHEDULE": "* * * * *",
    "DISCOVERY_LOOKBACK_MINUTES": "60",
    "RECONCILE_SCHEDULE": "@daily",
    "EVENTS_QUEUE": "video-pipeline-uploads",
    "EVENTS_QUEUE_URL": "",
    # The upload page (upload_app.py): the largest file it takes (S3's limit for one POST is 5 GiB) and how
    # long its signed upload form stays valid: minutes, since the page posts it at once and a form left
    # lying about (a log, a proxy) is one more way to put a video in the bucket.
    "UPLOAD_MAX_BYTES": str(5 * 1024**3),
    "UPLOAD_URL_TTL_S": "600",
    # Caption review: "true" makes it the default of the run's param review, so that uploads, which start
    # their runs with the defaults, wait for a reviewer too; how long a run waits, then "fail" or "publish"
    # (the captions as transcribed). A run's params review_timeout_minutes and review_on_timeout override,
    # but with REVIEW=true only to ask for more: never off, never a shorter wait, never publish where this
    # fails (run_params.py). REVIEWERS: who may answer, comma-separated Airflow user ids (with the simple
    # auth manager, the user names); empty: whoever may answer Required Actions.
    "REVIEW": "false",
    "REVIEW_TIMEOUT_MINUTES": "1440",
    "REVIEW_ON_TIMEOUT": "fail",
    "REVIEWERS": "",
    # What a run may be of (run_params.py), comma-separated: the buckets it may read its video from (empty:
    # BUCKET) and the key prefixes the video may lie under (empty: INCOMING_PREFIX). They must take BUCKET
    # and INCOMING_PREFIX, where uploads land; a source prefix over WORK_, SITE_, KEYS_ or QUARANTINE_PREFIX
    # fails the parse.
    "SOURCE_BUCKETS": "",
    "SOURCE_PREFIXES": "",
    # The models a run's detect_model and whisper_model may name, comma-separated (model_params.py): a model
    # is code as well as data, so never a URL or a path from a run. Default: the standard names their
    # libraries download from their own sources; add the names of models in the worker's VIDEO_WORKER_MODEL_DIR.
    "DETECT_MODELS": ",".join(f"{family}{size}.pt" for family in ("yolov8", "yolo11") for size in "nsmlx"),
    "WHISPER_MODELS": "tiny.en,tiny,base.en,base,small.en,small,medium.en,medium,large-v3,turbo",
}


def get(name: str) -> str:
    """``$VIDEO_PIPELINE_<name>`` if set and non-empty, else the default."""
    value = os.environ.get(f"VIDEO_PIPELINE_{name}", "")
    return value if value != "" else _DEFAULTS[name]


def listed(value: str) -> tuple[str, ...]:
    """A comma-separated setting's entries, stripped, empty ones dropped, each once."""
    return tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))


@dataclass(frozen=True)
class Settings:
    bucket: str
    table: str
    incoming_prefix: str
    work_prefix: str
    site_prefix: str
    quarantine_prefix: str
    keys_prefix: str
    public_base_url: str
    license_url: str
    license_secret: str
    license_token_ttl_s: str
    aws_conn_id: str
    runner: str
    worker_image: str
    worker_command: str
    docker_url: str
    docker_network_mode: str
    docker_network_egress: str
    docker_aws_credentials_file: str
    docker_mounts: str
    docker_user: str
    docker_cpus: str
    docker_memory: str
    docker_gpus: str
    k8s_namespace: str
    k8s_service_account: str
    k8s_in_cluster: str
    k8s_env_secret: str
    k8s_cpu: str
    k8s_memory: str
    k8s_cpu_limit: str
    k8s_memory_limit: str
    k8s_gpus: str
    k8s_gpu_node_selector: str
    k8s_gpu_tolerations: str
    retries: str
    retry_delay_s: str
    stage_timeouts: str
    run_deadline_minutes: str
    video_extensions: str
    discovery_schedule: str
    discovery_lookback_minutes: str
    reconcile_schedule: str
    events_queue: str
    events_queue_url: str
    upload_max_bytes: str
    upload_url_ttl_s: str
    review: str
    review_timeout_minutes: str
    review_on_timeout: str
    reviewers: str
    source_buckets: str
    source_prefixes: str
    detect_models: str
    whisper_models: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(**{field.lower(): get(field) for field in _DEFAULTS})

    @property
    def extensions(self) -> frozenset[str]:
        """Lower-case extensions without the dot; ``*`` accepts every key (probe decides anyway)."""
        return frozenset(e.strip().lower().lstrip(".") for e in self.video_extensions.split(",") if e.strip())

    def site_url(self, key: str) -> str:
        """Public URL of an object under the site prefix.

        Default: path-style on ``AWS_ENDPOINT_URL`` (the local endpoint), else the
        bucket's virtual-hosted AWS address; set PUBLIC_BASE_URL for a CDN.
        """
        base = self.public_base_url.rstrip("/")
        if not base:
            endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
            base = f"{endpoint}/{self.bucket}" if endpoint else f"https://{self.bucket}.s3.amazonaws.com"
        return f"{base}/{key}"
