"""What every runner's stage task shares: its inputs as XComs, the plan made from them, and its timeout.

A mixin before the runner's operator class (``local_stage``, ``docker_stage``, ``pod_stage``): it takes
these keyword arguments and passes the rest on. Once Airflow has rendered the XComs, the stage plans its
own worker invocation from the run's params, the registration and the upstream manifests
(``video_pipeline.planning``), so the DAG needs no task between two stages to compute arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk.exceptions import AirflowSkipException

from video_contract.manifests import read_manifest
from video_contract.stages import Stage
from video_pipeline.config import Settings
from video_pipeline.planning import Inputs, Invocation, RunOptions, plan
from video_pipeline.registration import Registration
from video_pipeline.review import ReviewAnswer
from video_pipeline.stage_timeouts import stage_timeout
from video_pipeline.stages import worker_args


class StageFields:
    """The stage, register's XCom, the upstream stages' manifests (a skipped one renders as None) and,
    for captions, the caption review's answer; all templated.

    Rendering plans the invocation, and a runner that passes the CLI to a container names the field
    in ``command_field``, which rendering sets to the worker's arguments. A stage with nothing to do in
    this run skips before it starts (before ``on_execute_callback``: the item hears nothing of it). Once
    the probe manifest is known, the task's execution_timeout follows the video's duration
    (stage_timeouts.py), so a hung stage is killed and retried.
    """

    command_field: ClassVar[str | None] = None
    execution_timeout: timedelta | None  # BaseOperator's, set here from the video's duration
    stage_template_fields = ("registration", "upstream", "review_answer")

    def __init__(self, *, stage: Stage, registration: Any, upstream: Sequence[Any] | None = None,
                 review_answer: Any = None, **kwargs: Any) -> None:
        self.stage = Stage(stage)
        kwargs.setdefault("execution_timeout", stage_timeout(self.stage, None, Settings.from_env().stage_timeouts))
        super().__init__(**kwargs)
        self.registration = registration
        self.upstream = list(upstream or [])
        self.review_answer = review_answer
        self.invocation: Invocation | None = None
        self.dest = ""
        self.duration_s: float | None = None

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        inputs = self.inputs(context["params"])
        self.dest = inputs.video.stage_dest(self.stage)
        self.duration_s = inputs.probe.duration_s if inputs.probe else None
        self.invocation = plan(self.stage, inputs)
        if self.command_field and self.invocation is not None:
            setattr(self, self.command_field, self.cli_args())

    def inputs(self, params: Mapping[str, Any]) -> Inputs:
        """The rendered XComs, read through the contract, with the run's options."""
        options = RunOptions.from_params(params, RunOptions(review=Settings.from_env().review))
        manifests = [read_manifest(value) for value in self.upstream if value is not None]
        texts = ReviewAnswer.from_json(self.review_answer).texts if self.review_answer else None
        return Inputs.of(options, Registration.from_json(self.registration), manifests, texts)

    def pre_execute(self, context: Any) -> None:
        super().pre_execute(context)  # type: ignore[misc]
        self.cli_args()  # nothing to do: skip now
        if self.duration_s is not None:
            self.execution_timeout = stage_timeout(self.stage, self.duration_s, Settings.from_env().stage_timeouts)
            self.log.info("%s may run for %s (a %.1f s video)",  # type: ignore[attr-defined]
                          self.stage, self.execution_timeout, self.duration_s)

    def cli_args(self) -> list[str]:
        """The worker CLI arguments after ``video-worker``, as planned; a skip when there is nothing to do."""
        if self.invocation is None:
            raise AirflowSkipException(f"{self.stage} has nothing to do in this run")
        return worker_args(self.stage, self.invocation, self.dest)
