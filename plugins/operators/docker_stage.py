"""A worker stage in a container of the worker image: the docker runner (``VIDEO_PIPELINE_RUNNER=docker``)."""

from __future__ import annotations

from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator

from operators.stage_fields import StageFields
from video_pipeline.containers import ensure_network
from video_pipeline.stages import stage_outcome


class VideoStageDockerOperator(StageFields, DockerOperator):
    """Run a worker stage in the worker image; the last line of the container's stdout is the manifest.

    The container is removed once its exit code is read, whatever the outcome, and stopping
    the task stops and removes it. A ``network_mode`` that names no network yet is made first, for
    the stages alone (``containers.ensure_network``; ``network_egress``: with a route out).
    """

    template_fields = (*DockerOperator.template_fields, *StageFields.stage_template_fields)
    command_field = "command"

    def __init__(self, *, network_egress: bool = False, **kwargs: Any) -> None:
        super().__init__(**{"mount_tmp_dir": False, **kwargs, "auto_remove": "never"})
        self.network_egress = network_egress

    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]  # the manifest, not the logs
        self.cli_args()  # a skip when there is nothing to do
        if ensure_network(self.cli, self.network_mode, egress=self.network_egress):
            route = ("with a route out" if self.network_egress
                     else "internal, no route out (VIDEO_PIPELINE_DOCKER_NETWORK_EGRESS=true gives one)")
            self.log.info("Made the stage network %s: %s", self.network_mode, route)
        try:
            try:
                super().execute(context)
                exit_code = 0
            except DockerContainerFailedException:
                exit_code = self.cli.inspect_container(self.container["Id"])["State"]["ExitCode"]
            return stage_outcome(self.stage, exit_code, self._last_stdout_line()).to_json()
        finally:
            self._remove_container()

    def on_kill(self) -> None:
        super().on_kill()
        self._remove_container()

    def _last_stdout_line(self) -> str:
        """The worker's result line. The task log has stdout and stderr as Docker interleaves them,
        so its last line may be a log line; the container's stdout alone ends with the result."""
        stdout = _text(self.cli.logs(self.container["Id"], stdout=True, stderr=False))  # (tail counts both)
        return stdout.rsplit("\n", 1)[-1]

    def _remove_container(self) -> None:
        from docker.errors import NotFound

        if self.container:
            try:
                self.cli.remove_container(self.container["Id"], force=True)
            except NotFound:  # removed already (on_kill, then execute unwinding)
                pass


def _text(line: str | bytes | None) -> str:
    return (line.decode("utf-8", "replace") if isinstance(line, bytes) else line or "").strip()
