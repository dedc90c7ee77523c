"""The video_pipeline DAG's deadline: a run unfinished this long after it was queued marks its item stuck."""

from __future__ import annotations

import sys
from datetime import timedelta

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from video_pipeline import status_callbacks
from video_pipeline.config import Settings


def run_deadline(settings: Settings) -> DeadlineAlert | None:
    """RUN_DEADLINE_MINUTES after the run was queued, ``status_callbacks.flag_stuck_run`` sets ``stuck_since``.

    None when set to 0, and under ``airflow dags test``: Airflow 3.3's ``dag.test()`` takes the
    DAG's alerts for their database ids when the run ends, and fails a run that succeeded.
    """
    if settings.run_deadline_minutes <= 0 or sys.argv[1:3] == ["dags", "test"]:
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT,
                         interval=timedelta(minutes=settings.run_deadline_minutes),
                         callback=AsyncCallback(status_callbacks.flag_stuck_run))
