"""Deployment settings, read once from ``VIDEO_PIPELINE_*`` environment variables into typed fields.

Reading the environment is cheap, so DAG files read these at parse time; the same names work for the
embedded local stack and for a production cluster. A value that cannot be used fails there, with one
error naming the variable, its value and what it may be. An empty variable means the default. Each
field's description is its row in docs/configuration.md (tests/unit/test_settings_docs.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from video_contract.stages import Stage

ENV_PREFIX = "VIDEO_PIPELINE_"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
S3_POST_LIMIT_BYTES = 5 * 1024**3  # S3 takes at most 5 GiB in one POST upload
UNSHOWN = ("webhook_urls",)  # settings whose refused value is not repeated in the error: it may hold a token


class SettingsError(ValueError):
    """A ``VIDEO_PIPELINE_*`` value the pipeline cannot use; the message names the variable, the value and
    what it may be."""


@dataclass(frozen=True)
class Toleration:
    """One ``key[=value]:Effect`` of K8S_GPU_TOLERATIONS: Equal with a value, Exists without one."""

    key: str
    value: str | None
    effect: str

    def __str__(self) -> str:
        return f"{self.key}{'' if self.value is None else '=' + self.value}:{self.effect}"


@dataclass(frozen=True)
class BindMount:
    """One ``SOURCE:TARGET[:ro|rw]`` of DOCKER_MOUNTS, both absolute paths."""

    source: str
    target: str
    read_only: bool

    def __str__(self) -> str:
        return f"{self.source}:{self.target}{':ro' if self.read_only else ''}"


def _entries(value: str) -> list[str]:
    """A comma-separated setting's entries, stripped, empty ones dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _names(value: Any) -> Any:
    """Comma-separated text (or a sequence from code) as its entries, each once."""
    if isinstance(value, str):
        value = _entries(value)
    return tuple(dict.fromkeys(value)) if isinstance(value, list | tuple) else value


def _extensions(value: Any) -> Any:
    """Extensions without the dot, lower case; ``*`` takes every key (probe decides anyway)."""
    value = _names(value)
    return tuple(dict.fromkeys(e.lower().lstrip(".") for e in value)) if isinstance(value, tuple) else value


def _switch(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise ValueError("expected true or false (any case)")
        return value.strip().lower() == "true"
    return value


def _each(parse: Callable[[str], Any], collect: Callable[[list[Any]], Any] = tuple) -> Callable[[Any], Any]:
    """A validator for a comma-separated setting: ``parse`` each entry, ``collect`` the results; a value
    given from code (not text) is left to the field's type."""

    def validate(value: Any) -> Any:
        return collect([parse(entry) for entry in _entries(value)]) if isinstance(value, str) else value

    return validate


def _stage_seconds(pair: str) -> tuple[str, float]:
    """``stage=seconds``: a stage of the worker, a positive number of seconds."""
    stage, _, number = (part.strip() for part in pair.partition("="))
    if stage not in set(Stage):
        raise ValueError(f"unknown stage {stage!r}; expected stage=seconds with a stage of {', '.join(Stage)}")
    try:
        seconds = float(number)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ValueError(f"{pair!r} is not stage=seconds (a positive number)")
    return stage, seconds


def _label(part: str) -> tuple[str, str]:
    """``key=value``: one label of a Kubernetes node selector."""
    key, sep, label = part.partition("=")
    if not sep or not key:
        raise ValueError(f"{part!r} is not key=value")
    return key, label


def _toleration(part: str) -> Toleration:
    """``key[=value]:Effect`` with an Effect of TAINT_EFFECTS."""
    spec, sep, effect = part.rpartition(":")
    if not sep or effect not in TAINT_EFFECTS:
        raise ValueError(f"{part!r} is not key[=value]:Effect, an Effect of {', '.join(TAINT_EFFECTS)}")
    key, has_value, label = spec.partition("=")
    return Toleration(key, label if has_value else None, effect)


def _mount(spec: str) -> BindMount:
    """``SOURCE:TARGET[:ro|rw]`` with absolute paths."""
    source, _, rest = spec.partition(":")
    target, _, mode = rest.partition(":")
    if not source.startswith("/") or not target.startswith("/") or mode not in ("", "ro", "rw"):
        raise ValueError(f"{spec!r} is not SOURCE:TARGET[:ro|rw] with absolute paths")
    return BindMount(source, target, mode == "ro")


def _webhook_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    """http(s) URLs with a host and no user, password or fragment. A URL's path or query may hold a token
    (Slack's do): refusals, logs and the item name a URL by its number or origin only. Private addresses are
    allowed: operators configure these, not uploads."""
    for number, url in enumerate(urls, 1):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (reading it checks it: ValueError for a port that is no number)
        except ValueError:
            fine = False
        else:
            fine = (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.username
                    and not parts.password and not parts.fragment)
        if not fine:
            raise ValueError(f"entry {number} is not an http(s) URL with a host and no user, password or fragment")
    return urls


# NoDecode: pydantic-settings hands the variable's text to the validator rather than reading it as JSON.
Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_names)]
Switch = Annotated[bool, BeforeValidator(_switch)]
StageSeconds = Annotated[dict[str, float], NoDecode, BeforeValidator(_each(_stage_seconds, dict))]
Selector = Annotated[dict[str, str], NoDecode, BeforeValidator(_each(_label, dict))]
Tolerations = Annotated[tuple[Toleration, ...], NoDecode, BeforeValidator(_each(_toleration))]
Mounts = Annotated[tuple[BindMount, ...], NoDecode, BeforeValidator(_each(_mount))]
WebhookUrls = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_names), AfterValidator(_webhook_urls)]

VIDEO_EXTENSIONS = ("mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "mxf", "flv",
                    "wmv", "ogv", "3gp")
DETECT_MODELS = tuple(f"{family}{size}.pt" for family in ("yolov8", "yolo11") for size in "nsmlx")
WHISPER_MODELS = ("tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v3",
                  "turbo")
# video_discovery's schedule when DISCOVERY_SCHEDULE is empty. Without S3 events, polling is how uploads are
# found: every minute. With them, events start runs within seconds and polling is only the safety net for a
# lost event: a run every minute kept the idle local stack's scheduler and executor busy (BENCHMARKS.md,
# the idle local stack).
POLL_WITHOUT_EVENTS = "* * * * *"
POLL_WITH_EVENTS = "@hourly"


class Settings(BaseSettings):
    """The Airflow side's settings: ``VIDEO_PIPELINE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid")

    bucket: str = Field("video-pipeline", description="The bucket of uploads, work files and the site.")
    table: str = Field("videos", description="The DynamoDB table of videos and their status.")
    incoming_prefix: str = Field("incoming/", description="Where uploads land: the triggers watch it.")
    work_prefix: str = Field("work/", description="Where stages write their outputs, one folder per video.")
    site_prefix: str = Field("site/", description="Where publish writes the site: pages, media, search index.")
    quarantine_prefix: str = Field("quarantine/", description="Where a video that fails for good is copied, "
                                                              "with the reason.")
    keys_prefix: str = Field("keys/", description="Where ClearKey content keys are kept (never public).")
    public_base_url: str = Field("", description="The site's public address (a CDN); empty: the S3 endpoint's "
                                                 "path-style address, or the bucket's AWS address.")
    license_url: str = Field("", description="The ClearKey license endpoint that encrypted pages ask for keys.")
    license_secret: str = Field("", description="The license endpoint's HMAC secret for playback tokens "
                                                "(license.py); empty: it gives no key at all.")
    license_token_ttl_s: int = Field(3600, gt=0, description="How long a playback token stays valid, seconds.")
    aws_conn_id: str = Field("aws_default", description="The Airflow connection for S3, DynamoDB and SQS.")
    runner: Literal["local", "docker", "kubernetes"] = Field(
        "local", description="Where stages run: `local` (a subprocess), `docker` (a container), `kubernetes` "
                             "(a pod).")
    worker_image: str = Field("video-pipeline/worker:latest", description="The worker image of the docker and "
                                                                          "kubernetes runners.")
    worker_command: str = Field("video-worker", description="The worker's CLI.")
    docker_url: str = Field("unix://var/run/docker.sock", description="The Docker engine of the docker runner.")
    docker_network_mode: str = Field(
        "", description="The stage containers' network. One named here that does not exist is made on first "
                        "use, for the stages alone (containers.py): internal, no route out, unless "
                        "DOCKER_NETWORK_EGRESS. Empty: Docker's default.")
    docker_network_egress: Switch = Field(False, description="Whether a network the stages make has a route out "
                                                             "(AWS S3 from a host without moto).")
    docker_aws_credentials_file: str = Field(
        "", description="The Docker host's path of an AWS shared credentials file, mounted read-only into every "
                        "stage container: its keys stay out of the container's environment (docker inspect); "
                        "empty: none (a role).")
    docker_mounts: Mounts = Field((), description="Bind mounts of every stage container (a model cache), "
                                                  "`SOURCE:TARGET[:ro|rw],...`, absolute paths.")
    docker_user: str = Field("", description="The user stage containers run as; empty: the image's.")
    docker_cpus: float = Field(1.0, gt=0, description="CPU shares of a stage container (detect and previews get "
                                                      "a quarter of it).")
    docker_memory: str = Field("", description="A stage container's memory limit (`6g`); empty: none.")
    docker_gpus: str = Field("all", description="GPUs of the GPU stages' containers: `all`, a count, or `none` "
                                                "(a host without the NVIDIA container toolkit).")
    k8s_namespace: str = Field("default", description="The namespace of the kubernetes runner's pods.")
    k8s_service_account: str = Field("", description="The pods' service account (an IAM role on EKS); empty: "
                                                     "the namespace's default.")
    k8s_in_cluster: Switch = Field(True, description="Whether Airflow runs in the cluster it starts pods in.")
    k8s_env_secret: str = Field("", description="A Kubernetes Secret whose keys become the pods' environment "
                                                "(credentials stay out of the pod spec); on EKS an IAM role for "
                                                "the service account needs none.")
    k8s_cpu: str = Field("1", description="Each pod's CPU request.")
    k8s_memory: str = Field("4Gi", description="Each pod's memory request.")
    k8s_cpu_limit: str = Field("", description="Each pod's CPU limit; empty: its request.")
    k8s_memory_limit: str = Field("", description="Each pod's memory limit; empty: its request (memory past it "
                                                  "is an OOM kill of the pod, not of the node).")
    k8s_gpus: str = Field("1", description="GPUs a GPU stage's pod requests (`nvidia.com/gpu`).")
    k8s_gpu_node_selector: Selector = Field({"nvidia.com/gpu.present": "true"},
                                            description="Where GPU stages' pods go: `key=value,...`.")
    k8s_gpu_tolerations: Tolerations = Field((Toleration("nvidia.com/gpu", None, "NoSchedule"),),
                                             description="The GPU stages' pods' tolerations: "
                                                         "`key[=value]:Effect,...`.")
    retries: int = Field(3, ge=0, description="Retries of every task; permanent input errors and invalid "
                                              "options never retry.")
    retry_delay_s: float = Field(20.0, ge=0, description="Seconds between a task's tries.")
    stage_timeouts: StageSeconds = Field(
        {}, description="A stage's execution_timeout is its base plus its factor times the video's duration "
                        "(stage_timeouts.py); this sets it per stage in seconds, `transcode=3600,detect=1800`.")
    run_deadline_minutes: float = Field(120.0, ge=0, description="A run still unfinished this long after it was "
                                                                 "queued is flagged stuck (stuck_since in the "
                                                                 "item); 0: never.")
    video_extensions: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_extensions)] = Field(
        VIDEO_EXTENSIONS, description="What the triggers and the upload page count as a video, by extension "
                                      "(any case); `*`: any key.")
    discovery_schedule: str = Field("", description="How often video_discovery polls the incoming prefix; empty: "
                                                    "every minute, or hourly with S3 events (EVENTS_QUEUE_URL), "
                                                    "which then deliver the uploads.")
    discovery_lookback_minutes: int = Field(60, gt=0, description="How far back video_discovery looks; older "
                                                                  "uploads are left to video_backfill.")
    reconcile_schedule: str = Field("@daily", description="When video_backfill sweeps the incoming prefix.")
    events_queue: str = Field("video-pipeline-uploads", description="The SQS queue bootstrap makes for the "
                                                                    "bucket's upload events.")
    events_queue_url: str = Field("", description="The queue video_events reads; empty: the event path is off.")
    upload_max_bytes: int = Field(S3_POST_LIMIT_BYTES, gt=0, le=S3_POST_LIMIT_BYTES,
                                  description="The largest file the upload page takes (S3's limit for one POST "
                                              "is 5 GiB).")
    upload_url_ttl_s: int = Field(600, gt=0, description="How long the upload page's signed form stays valid: "
                                                         "minutes, since the page posts it at once and a form left "
                                                         "lying about (a log, a proxy) is one more way to put a "
                                                         "video in the bucket.")
    review: Switch = Field(False, description="Caption review by default: the default of the run's param review, "
                                              "so that uploads, which start their runs with the defaults, wait "
                                              "for a reviewer too. A run may then ask only for more: never off, "
                                              "never a shorter wait, never publish where this fails "
                                              "(run_params.py).")
    review_timeout_minutes: float = Field(1440.0, gt=0, description="How long a run waits for a reviewer.")
    review_on_timeout: Literal["publish", "fail"] = Field(
        "fail", description="What a review nobody answered does: `fail`, or `publish` the captions as "
                            "transcribed.")
    reviewers: Names = Field((), description="Who may answer a review, Airflow user ids (with the simple auth "
                                             "manager, the user names), comma-separated; empty: whoever may "
                                             "answer Required Actions.")
    source_buckets: Names = Field((), description="The buckets a run may read its video from, comma-separated; "
                                                  "empty: BUCKET. Must take BUCKET.")
    source_prefixes: Names = Field((), description="The key prefixes a run's video may lie under, "
                                                   "comma-separated; empty: INCOMING_PREFIX. Must take "
                                                   "INCOMING_PREFIX; one over WORK_, SITE_, KEYS_ or "
                                                   "QUARANTINE_PREFIX fails the parse.")
    detect_models: Names = Field(DETECT_MODELS, description="The models a run's detect_model may name "
                                                            "(model_params.py): a model is code as well as data, "
                                                            "so never a URL or a path from a run. Add the names "
                                                            "of models in the worker's VIDEO_WORKER_MODEL_DIR.")
    whisper_models: Names = Field(WHISPER_MODELS, description="The models a run's whisper_model may name, as "
                                                              "DETECT_MODELS.")
    # Notifications (notifications.py, docs/notifications.md)
    webhook_urls: WebhookUrls = Field((), description="Where events (published, failed, rejected, review "
                                                      "requested) are posted, signed, comma-separated http(s) "
                                                      "URLs; empty: no webhooks.")
    webhook_secret_variable: str = Field(
        "video_pipeline_webhook_secret", description="The Airflow Variable (a secrets backend's, or "
                                                     "`AIRFLOW_VAR_<NAME>`) that holds the webhooks' HMAC secret; "
                                                     "never the secret itself.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="How long a delivery attempt may wait to connect, "
                                                            "to send, and for the answer, seconds each.")
    webhook_attempts: int = Field(4, ge=1, description="Attempts of a delivery that meets a 5xx, a timeout or no "
                                                       "connection (never a 4xx), with exponential backoff.")
    webhook_deadline_s: float = Field(30.0, gt=0, description="How long one event's deliveries may take in "
                                                              "all, seconds: the task that sends it waits no "
                                                              "longer.")
    sns_topic_arn: str = Field("", description="The SNS topic events are published to as well (bootstrap makes "
                                               "it); empty: none.")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The settings of this environment, with ``overrides`` (tests, benchmarks: their own bucket) in place
        of variables; SettingsError names every value that cannot be used."""
        try:
            return cls(**overrides)
        except ValidationError as error:
            raise SettingsError("\n".join(_refusal(problem) for problem in error.errors())) from None

    @property
    def polling_schedule(self) -> str:
        """video_discovery's schedule: DISCOVERY_SCHEDULE, else by whether S3 events deliver uploads."""
        return self.discovery_schedule or (POLL_WITH_EVENTS if self.events_queue_url else POLL_WITHOUT_EVENTS)

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


def _refusal(problem: Any) -> str:
    """``VIDEO_PIPELINE_<NAME>: '<value>' is refused: <what it may be>`` for one validation error."""
    name = str(problem["loc"][0]) if problem["loc"] else "?"
    reason = str(problem["ctx"]["error"]) if problem["type"] == "value_error" else problem["msg"]
    value = "its value (not shown: a URL may hold a token)" if name in UNSHOWN else repr(problem["input"])
    return f"{ENV_PREFIX}{name.upper()}: {value} is refused: {reason[:1].lower()}{reason[1:]}"
