"""One worker stage as an Airflow task, for the configured runner.

The runner is configuration (``VIDEO_PIPELINE_RUNNER``), not DAG code: the same DAG runs as
subprocesses on a laptop (``local_stage``), in containers on (GPU) Celery workers (``docker_stage``),
and as pods on Kubernetes (``pod_stage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from video_contract.stages import Stage
from video_pipeline.config import Settings


def video_stage(*, stage: Stage, registration: Any, upstream: Sequence[Any] | None = None,
                review_answer: Any = None, settings: Settings | None = None, **kwargs: Any) -> BaseOperator:
    """The stage task, its id the stage's name: it plans its invocation from register's XCom, the
    upstream manifests and (captions) the review's answer (``operators.stage_fields``)."""
    settings = settings or Settings.from_env()
    common = {"task_id": stage.value, "stage": stage, "registration": registration, "upstream": upstream,
              "review_answer": review_answer, **kwargs}
    if settings.runner == "local":
        from operators.local_stage import VideoStageOperator

        return VideoStageOperator(worker_command=settings.worker_command, **common)
    if settings.runner == "docker":
        from operators.docker_stage import VideoStageDockerOperator
        from video_pipeline.containers import container_options

        return VideoStageDockerOperator(retrieve_output=False, **container_options(settings, stage), **common)
    from operators.pod_stage import VideoStagePodOperator
    from video_pipeline.pods import pod_options

    return VideoStagePodOperator(**pod_options(settings, stage), **common)
