"""One worker stage as an Airflow task, run locally or in the worker's Docker image.

The runner is configuration (``VIDEO_PIPELINE_RUNNER``), not DAG code: the same
DAG runs as subprocesses on a laptop, in containers on (GPU) Celery workers, and
as pods on Kubernetes (``operators.video_stage_pod``).
"""

from __future__ import annotations

import os
import shlex
from functools import cached_property
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.standard.hooks.subprocess import SubprocessHook
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from video_pipeline.config import Settings
from video_pipeline.containers import container_options, ensure_network
from video_pipeline.stage_timeouts import stage_timeout
from video_pipeline.stages import BACKGROUND_NICENESS, BACKGROUND_STAGES, stage_outcome, worker_args


class StageFields:
    """What every runner takes from the DAG: the stage and its rendered source, dest and options.

    ``source_etag`` pins the version of the source to read (the upload's ETag that register
    recorded): a source replaced or deleted since fails the stage (``stages.SourceChanged``).

    A mixin before the operator class: it takes these keyword arguments and passes the rest on.
    ``probed`` is the probe stage's manifest (an XComArg in the DAG): once it is rendered, the
    task's execution_timeout follows the video's duration (stage_timeouts.py), so a hung stage is
    killed and retried. A runner that passes the CLI to a container names the field in
    ``command_field``; rendering sets it to the worker's arguments.
    """

    command_field: str | None = None
    stage_template_fields = ("source", "source_etag", "dest", "stage_args", "probed")

    def __init__(
        self,
        *,
        stage: str,
        source: str,
        dest: str,
        stage_args: list[str] | None = None,
        probed: Any = None,
        source_etag: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("execution_timeout", stage_timeout(stage, None, Settings.from_env().stage_timeouts))
        super().__init__(**kwargs)
        self.stage = stage
        self.source = source
        self.source_etag = source_etag
        self.dest = dest
        self.stage_args = stage_args
        self.probed = probed

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if self.command_field and self.stage_args is not None:
            setattr(self, self.command_field, self.cli_args())

    def pre_execute(self, context: Any) -> None:
        super().pre_execute(context)
        duration = self.probed.get("duration_s") if isinstance(self.probed, dict) else None
        if duration is not None:
            self.execution_timeout = stage_timeout(self.stage, duration, Settings.from_env().stage_timeouts)
            self.log.info("%s may run for %s (a %.1f s video)", self.stage, self.execution_timeout, duration)

    def cli_args(self) -> list[str]:
        """The worker CLI arguments after ``video-worker``, as rendered."""
        return worker_args(self.stage, self.source, self.dest, self.stage_args, self.source_etag)

    def _skip_if_disabled(self) -> None:
        if self.stage_args is None:
            raise AirflowSkipException(f"{self.stage} is disabled for this run")


class VideoStageOperator(StageFields, BaseOperator):
    """Run ``video-worker STAGE`` as a local subprocess; its manifest becomes the XCom.

    :param stage: the worker stage (probe, transcode, transcribe, detect, previews, burn)
    :param source: input URI (templated)
    :param source_etag: the version of ``source`` to read, its ETag (templated); None: whatever is there
    :param dest: output prefix URI (templated)
    :param stage_args: extra CLI options (templated); None skips the task (stage disabled)
    :param worker_command: how to call the worker CLI
    """

    template_fields = StageFields.stage_template_fields
    ui_color = "#e8f4ff"

    def __init__(self, *, worker_command: str = "video-worker", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker_command = worker_command

    @cached_property
    def hook(self) -> SubprocessHook:
        return SubprocessHook()

    def execute(self, context: Any) -> dict[str, Any]:
        self._skip_if_disabled()
        command = [*background_prefix(self.stage), *shlex.split(self.worker_command),
                   *self.cli_args()]
        result = self.hook.run_command(command=command, env=dict(os.environ))
        return stage_outcome(self.stage, result.exit_code, result.output)

    def on_kill(self) -> None:
        self.hook.send_sigterm()


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

    def execute(self, context: Any) -> dict[str, Any]:
        self._skip_if_disabled()
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
            return stage_outcome(self.stage, exit_code, self._last_stdout_line())
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


def background_prefix(stage: str) -> list[str]:
    """Lower CPU priority for a stage off the critical path (stages.BACKGROUND_STAGES).

    The hook starts the worker in a session of its own, and where the kernel groups processes by
    session (autogroup, the default on desktop and many server kernels) a nice value only ranks
    processes within their own session; so the session's group is niced as well.
    """
    if stage not in BACKGROUND_STAGES:
        return []
    nice = str(BACKGROUND_NICENESS)
    # Without CAP_SYS_RESOURCE the kernel takes one autogroup change per 100 ms on the whole host: retry.
    group = (f"if [ -w /proc/self/autogroup ]; then n=0; until echo {nice} 2>/dev/null > /proc/self/autogroup "
             f"|| [ $n -ge 20 ]; do n=$((n + 1)); sleep 0.1; done; fi")
    return ["sh", "-c", f'{group}; exec nice -n {nice} "$0" "$@"']


def _text(line: str | bytes | None) -> str:
    return (line.decode("utf-8", "replace") if isinstance(line, bytes) else line or "").strip()


def video_stage(
    *, stage: str, source: Any, dest: Any, stage_args: Any = None, probed: Any = None,
    source_etag: Any = None, settings: Settings | None = None, **kwargs: Any,
) -> BaseOperator:
    """The stage task for the configured runner (``local``, ``docker`` or ``kubernetes``)."""
    settings = settings or Settings.from_env()
    common = {"task_id": stage, "stage": stage, "source": source, "source_etag": source_etag, "dest": dest,
              "stage_args": stage_args, "probed": probed, **kwargs}
    if settings.runner == "local":
        return VideoStageOperator(worker_command=settings.worker_command, **common)
    if settings.runner == "docker":
        return VideoStageDockerOperator(retrieve_output=False, **container_options(settings, stage), **common)
    if settings.runner == "kubernetes":
        from operators.video_stage_pod import VideoStagePodOperator
        from video_pipeline.pods import pod_options

        return VideoStagePodOperator(**pod_options(settings, stage), **common)
    raise ValueError(f"VIDEO_PIPELINE_RUNNER must be local, docker or kubernetes, not {settings.runner!r}")
