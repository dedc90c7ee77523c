"""What the local stack costs while it waits: the CPU of an idle ``airflow standalone``, per component.

On a 2-core machine every tenth of a core the scheduler, DAG processor, triggerer and API
server burn while nothing runs is taken from the stages of the next upload. This starts the
stack as ``make up`` configures it (the S3 event watcher and the polling DAG running),
lets it settle, and counts the machine's busy CPU and each process's over a window; then the
same with Airflow's default DAG parsing interval (30 s), to show what the local stack's 120 s
saves. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import boto3
import local_env
import psutil
from measure import machine_busy_seconds
from moto_endpoint import moto_endpoint
from report import write_section
from standalone import standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTLE_S, WINDOW_S = 45, 90
PARSE_INTERVAL = "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server", "LocalExecutor")


def _cpu_by_component() -> dict[str, float]:
    """CPU seconds so far of each Airflow component's processes (with their reaped children)."""
    totals = dict.fromkeys(COMPONENTS, 0.0)
    for proc in psutil.process_iter(["cmdline"]):
        command = " ".join(proc.info["cmdline"] or [])
        component = next((c for c in COMPONENTS if c in command), None)
        if component:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            totals[component] += t.user + t.system + t.children_user + t.children_system
    return totals


def idle_cost(endpoint: str, overrides: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Cores the whole machine and each component kept busy over the window."""
    home = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    port = local_env.free_port()
    env = {**os.environ, **local_env.airflow_env(home, endpoint, port), **overrides}
    with standalone(home, env, port) as api:
        for dag_id in ("video_pipeline", "video_events", "video_discovery"):
            api.set_paused(dag_id, False)
        time.sleep(SETTLE_S)
        before, busy = _cpu_by_component(), machine_busy_seconds()
        time.sleep(WINDOW_S)
        after, busy = _cpu_by_component(), machine_busy_seconds() - busy
    return busy / WINDOW_S, {c: max(0.0, after[c] - before[c]) / WINDOW_S for c in COMPONENTS}


def main() -> None:
    with moto_endpoint() as endpoint:
        os.environ.update(local_env.airflow_env(Path(tempfile.mkdtemp()), endpoint))
        bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"),
                  settings=Settings.from_env())
        ours = local_env.airflow_env(Path(tempfile.mkdtemp()), endpoint)[PARSE_INTERVAL]
        runs = {f"{ours} s (the local stack)": idle_cost(endpoint, {}),
                "30 s (Airflow's default)": idle_cost(endpoint, {PARSE_INTERVAL: "30"})}
    head = " | ".join(COMPONENTS)
    rows = [f"| DAG parsing interval | machine, cores | {head} |", "|---|--:|" + "--:|" * len(COMPONENTS)]
    rows += [f"| {name} | {machine:.3f} | " + " | ".join(f"{parts[c]:.3f}" for c in COMPONENTS) + " |"
             for name, (machine, parts) in runs.items()]
    section = f"""
## The idle local stack

`bench/idle_stack.py`: `airflow standalone` as `make up` runs it (SQLite, LocalExecutor, the S3 event watcher
deferred to the triggerer, `video_discovery` polling every minute), idle after {SETTLE_S} s, measured over
{WINDOW_S} s on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the machine above: cores kept busy on
average, for the whole machine (the moto server and the benchmark included) and per Airflow component
(its processes and their finished children).

{chr(10).join(rows)}

Whatever the idle stack burns is taken from the stages of the next upload: the stack's upload-to-published
time in the table above is the stage work plus this, shared by 2 cores.
"""
    print(write_section(ROOT / "BENCHMARKS.md", "idle-stack", section))


if __name__ == "__main__":
    main()
