"""The exit-code contract through the docker runner: ``CASES`` of tests/dags/test_stage_contract.py, in the image.

VideoStageDockerOperator runs each row's worker in the worker image on the real engine, built as
the DAG builds it (``container_options``), so the exit code comes from the container's state:
a row's wrapper becomes the entrypoint; the worker killed is the out-of-memory killer's SIGKILL
(137), here from a memory limit no Python fits in, because a process cannot SIGKILL itself as
the container's PID 1.
"""

from __future__ import annotations

import dataclasses

import pytest
from helpers import docker_cli

from tests.dags.test_stage_contract import (
    CASES,
    check,
    contract,  # noqa: F401 - the inputs' fixture
    render,
    stage_inputs,
)
from video_pipeline.config import Settings
from video_pipeline.containers import STAGE_LABEL, container_options

WORKER_BIN = "/opt/venv/bin"  # the image's venv: video-worker, and no ffprobe
LABEL = "contract-docker"
# Rows that the engine produces differently, and the container options that produce them.
DOCKER = {"the worker killed (SIGKILL): retried": ({"wrapper": ""}, {"mem_limit": "6m"})}
assert set(DOCKER) <= {case.id for case in CASES}, "a row of DOCKER names no row of CASES"


def _docker_case(case):
    fields, options = DOCKER.get(case.id, ({}, {}))
    return dataclasses.replace(case, **fields), options


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_docker_runner_maps_every_exit(case, s3, contract, worker_image, aws_credentials_file):  # noqa: F811
    from operators.docker_stage import VideoStageDockerOperator

    case, extra = _docker_case(case)
    settings = Settings.from_env(worker_image=worker_image, docker_network_mode="host", docker_gpus="none",
                                 docker_mounts="", docker_aws_credentials_file=aws_credentials_file)
    options = container_options(settings, case.stage)
    options["environment"] = {**options["environment"], **case.environment(WORKER_BIN)}
    options["labels"] = {STAGE_LABEL: LABEL}
    stage = VideoStageDockerOperator(task_id=case.stage, **stage_inputs(case, s3, contract, "docker"),
                                     retrieve_output=False, entrypoint=case.shell(), **{**options, **extra})
    render(stage, case)  # the command, planned as a run plans it
    check(case, lambda: stage.execute({}), WORKER_BIN)
    # Whatever the outcome, the container is gone once its exit code is read.
    assert docker_cli("ps", "-aq", "--filter", f"label={STAGE_LABEL}={LABEL}").stdout.split() == []


def test_a_memory_limit_kills_the_worker_as_the_oom_killer_does(worker_image):
    """The killed row's premise: under 6 MiB the container ends with 137, OOMKilled."""
    name = f"{LABEL}-oom"
    run = docker_cli("run", "--name", name, "-m", "6m", worker_image, "--version", check=False)
    try:
        state = docker_cli("inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", name).stdout.split()
    finally:
        docker_cli("rm", "-f", name, check=False)
    assert run.returncode == 137 and state == ["137", "true"], (run.stdout, run.stderr)
