"""A worker stage as a local subprocess: the local runner (``VIDEO_PIPELINE_RUNNER=local``)."""

from __future__ import annotations

import os
import shlex
from functools import cached_property
from typing import Any

from airflow.providers.standard.hooks.subprocess import SubprocessHook
from airflow.sdk import BaseOperator

from operators.stage_fields import StageFields
from video_pipeline.stages import BACKGROUND_NICENESS, BACKGROUND_STAGES, stage_outcome

# Without CAP_SYS_RESOURCE the kernel takes one autogroup change per 100 ms on the whole host: retried.
AUTOGROUP_TRIES = 20
AUTOGROUP_RETRY_S = 0.1


class VideoStageOperator(StageFields, BaseOperator):
    """Run ``video-worker STAGE`` as a local subprocess; its manifest becomes the XCom.

    :param stage: the worker stage (probe, transcode, transcribe, captions, detect, previews, burn, package)
    :param registration: register's XCom (templated)
    :param upstream: the upstream stages' manifests by task id (templated)
    :param review_answer: the caption review's answer, for captions (templated)
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
        command = [*background_prefix(self.stage), *shlex.split(self.worker_command), *self.cli_args()]
        result = self.hook.run_command(command=command, env=dict(os.environ))
        return stage_outcome(self.stage, result.exit_code, result.output).to_json()

    def on_kill(self) -> None:
        self.hook.send_sigterm()


def background_prefix(stage: str) -> list[str]:
    """Lower CPU priority for a stage off the critical path (stages.BACKGROUND_STAGES).

    The hook starts the worker in a session of its own, and where the kernel groups processes by
    session (autogroup, the default on desktop and many server kernels) a nice value only ranks
    processes within their own session; so the session's group is niced as well.
    """
    if stage not in BACKGROUND_STAGES:
        return []
    nice = str(BACKGROUND_NICENESS)
    group = (f"if [ -w /proc/self/autogroup ]; then n=0; until echo {nice} 2>/dev/null > /proc/self/autogroup "
             f"|| [ $n -ge {AUTOGROUP_TRIES} ]; do n=$((n + 1)); sleep {AUTOGROUP_RETRY_S}; done; fi")
    return ["sh", "-c", f'{group}; exec nice -n {nice} "$0" "$@"']
