"""A worker stage as a Kubernetes pod: the kubernetes runner (``VIDEO_PIPELINE_RUNNER=kubernetes``).

Imported only by that runner, so the other runners never load the Kubernetes client.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.exceptions import AirflowException

from operators.stage_fields import StageFields
from video_pipeline.stages import stage_outcome


def exit_code(pod: Any, container: str) -> int | None:
    """The container's exit code from a pod's status, or None when it never ran to an end."""
    statuses = (pod.status.container_statuses or []) if pod is not None and pod.status else []
    for status in statuses:
        if status.name == container and status.state and status.state.terminated:
            return int(status.state.terminated.exit_code)
    return None


class VideoStagePodOperator(StageFields, KubernetesPodOperator):
    """Run a worker stage in a pod of the worker image; the result file, served as XCom, is the manifest.

    Runs synchronously: the exit code decides between done, retry and permanent failure, as in the
    other runners. A pod that never ran (unschedulable, image not pulled) is an Airflow error, retried.
    """

    template_fields = (*KubernetesPodOperator.template_fields, *StageFields.stage_template_fields)
    command_field = "arguments"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"get_logs": True, "startup_timeout_seconds": 900, **kwargs,
                            "do_xcom_push": True, "deferrable": False, "on_finish_action": "delete_pod"})
        self._result: Any = None

    def extract_xcom(self, pod: Any, **kwargs: Any) -> Any:
        """Kept for the failure path too: the operator reads the file before it judges the pod."""
        self._result = super().extract_xcom(pod, **kwargs)
        return self._result

    def execute(self, context: Any) -> dict[str, Any]:
        self.cli_args()  # a skip when there is nothing to do
        try:
            super().execute(context)
            code: int | None = 0
        except AirflowException:
            code = exit_code(self.remote_pod, self.base_container_name)
            if code is None:
                raise
        return stage_outcome(self.stage, code, json.dumps(self._result) if self._result else "").to_json()
