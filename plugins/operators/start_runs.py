"""Start one ``video_pipeline`` run per planned video: the end of every trigger DAG."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.definitions.mappedoperator import MappedOperator

from video_pipeline.discovery import PIPELINE_DAG_ID


def start_video_runs(runs: Any, *, task_id: str = "start_runs", **kwargs: Any) -> MappedOperator:
    """A mapped TriggerDagRunOperator over ``[{"trigger_run_id", "conf"}, ...]``.

    The run id comes from the video id, so a run that exists already (seen
    twice, by two triggers, or in a retried task) is skipped, never doubled.
    """
    return TriggerDagRunOperator.partial(
        task_id=task_id,
        trigger_dag_id=PIPELINE_DAG_ID,
        logical_date=None,
        skip_when_already_exists=True,
        map_index_template="{{ task.trigger_run_id }}",
        **kwargs,
    ).expand_kwargs(runs)
