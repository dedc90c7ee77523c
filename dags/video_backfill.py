"""video_backfill: a run for every video under a prefix that needs one; daily, the sweep that misses nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, PokeReturnValue, XComArg, dag, task

from operators.start_runs import start_video_runs
from video_pipeline.config import Settings
from video_pipeline.discovery import PIPELINE_DAG_ID
from video_pipeline.run_params import Sources

if TYPE_CHECKING:
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

SETTINGS = Settings.from_env()
SOURCES = Sources.from_settings(SETTINGS)
ACTIVE = ["queued", "running"]


@dag(
    dag_id="video_backfill",
    schedule=SETTINGS.reconcile_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # pages of one backfill run one after another
    tags=["video", "trigger", "backfill"],
    doc_md=__doc__
    + f"""

Trigger it from the UI with a `prefix` (and optionally `since`/`until` on the objects'
LastModified) to process every video there that has not been published, or, with `reprocess`,
every video again (`force`). Scheduled (`{SETTINGS.reconcile_schedule}`,
`VIDEO_PIPELINE_RECONCILE_SCHEDULE`) with its defaults it sweeps the incoming prefix: videos no
trigger saw, runs claimed but never started, and transient failures are retried; permanent
input failures are not.

A run waits until fewer than `max_active` `video_pipeline` runs are queued or running, plans
as many runs as there is room for (at most `core.max_map_length`, the limit of a mapped task),
starts them, and hands the rest to the next page: a `video_backfill` run of its own, in key
order after the last video it started. Rerunning any task starts nothing twice: run ids derive
from the video id (and, for retries and reprocessing, from the backfill's first run).
""",
    default_args={"owner": "video-pipeline", "retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        # What a run may be of (run_params.py): plan_page checks again before it lists anything.
        "bucket": Param(SETTINGS.bucket, type="string", enum=list(SOURCES.buckets),
                        description="bucket to sweep (SOURCE_BUCKETS)"),
        "prefix": Param(SETTINGS.incoming_prefix, type="string", pattern=SOURCES.prefix_pattern,
                        description=f"key prefix to sweep: {', '.join(SOURCES.prefixes)} or one under it "
                                    "(SOURCE_PREFIXES)"),
        "since": Param(None, type=["null", "string"], format="date-time",
                       description="only objects last modified at or after this time (UTC)"),
        "until": Param(None, type=["null", "string"], format="date-time",
                       description="only objects last modified before this time (UTC)"),
        "reprocess": Param(False, type="boolean", description="process published videos again, too"),
        "max_active": Param(8, type="integer", minimum=1, maximum=1000,
                            description="start runs while fewer video_pipeline runs than this are active"),
    },
)
def video_backfill() -> None:
    @task.sensor(poke_interval=20, timeout=timedelta(hours=12).total_seconds(), mode="reschedule")
    def wait_for_room(params: dict[str, Any], ti: Any = None) -> PokeReturnValue:
        """Room for how many more runs, counting every queued or running video_pipeline run."""
        active = ti.get_dr_count(dag_id=PIPELINE_DAG_ID, states=ACTIVE)
        return PokeReturnValue(is_done=active < params["max_active"], xcom_value=params["max_active"] - active)

    @task
    def plan_page(params: dict[str, Any], room: int, dag_run: Any = None, ti: Any = None) -> list[dict[str, Any]]:
        """List after the cursor, keep what needs a run, claim a page of them; say where the next page starts."""
        from airflow.configuration import conf
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk.exceptions import AirflowFailException

        from video_pipeline import discovery, status_callbacks
        from video_pipeline.run_params import RunParamError

        try:
            SOURCES.check_prefix(params["bucket"], params["prefix"])
        except RunParamError as refused:
            raise AirflowFailException(str(refused)) from refused
        cursor, root = dag_run.conf.get("cursor"), dag_run.conf.get("root") or dag_run.run_id
        entries = discovery.list_objects(S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn(),
                                         params["bucket"], params["prefix"], start_after=cursor)
        objects = discovery.select_listed(entries, params["bucket"], SETTINGS.video_extensions, sources=SOURCES,
                                          since=discovery.parse_bound(params["since"]),
                                          until=discovery.parse_bound(params["until"]))
        catalog = status_callbacks.catalog(SETTINGS)
        page, more = discovery.plan_page(
            objects, catalog, mode="reprocess" if params["reprocess"] else "missing",
            tag=discovery.sweep_tag(root), size=min(room, conf.getint("core", "max_map_length")))
        runs = discovery.claim_runs(page, catalog, discovered_by="backfill")
        after = page[-1].obj.key if more and page else ""
        # Beside the runs (the return value, which start_runs maps over): where the next page starts.
        ti.xcom_push(key="more", value=bool(after))
        ti.xcom_push(key="next_conf", value={**params, "cursor": after, "root": root})
        ti.xcom_push(key="next_run_id",
                     value=f"backfill__{discovery.sweep_tag(root)}__{discovery.sweep_tag(after)}")
        return runs

    runs = plan_page(room=wait_for_room())
    started = start_video_runs(runs)
    planner = cast("PlainXComArg", runs).operator  # its other XComs: whether there is more, the next page's run

    @task.short_circuit(trigger_rule="none_failed")
    def more_to_do(more: bool) -> bool:
        return more

    next_page = TriggerDagRunOperator(
        task_id="next_page",
        trigger_dag_id="video_backfill",
        trigger_run_id=XComArg(planner, key="next_run_id"),
        conf=XComArg(planner, key="next_conf"),
        logical_date=None,
        skip_when_already_exists=True,
    )
    gate = more_to_do(XComArg(planner, key="more"))
    started >> gate >> next_page


video_backfill()
