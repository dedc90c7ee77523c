"""What the local stack costs while it waits: the CPU of an idle ``airflow standalone``, per component.

    python bench/idle_stack.py [--rounds 1] [--out BENCHMARKS.md]

On a 2-core machine every tenth of a core the scheduler, DAG processor, triggerer and API
server burn while nothing runs is taken from the stages of the next upload. This starts the
stack as ``make up`` configures it (S3 events through the triggerer's SQS watcher, so
``video_discovery`` polls only hourly), lets it settle, and counts the CPU of the stack's own
processes over a window: each Airflow component (its processes and their finished children) and
the moto server (a thread of this process). Then the same with ``video_discovery`` polling every
minute, as it does without S3 events (and as the local stack did before it polled hourly). It
counts the stack's process tree, not the whole machine, so other work on a shared machine stays
out of the figures. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import boto3
import local_env
import psutil
from moto_endpoint import moto_endpoint
from report import write_section
from standalone import standalone

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
# Settled: past the start-up and the poll that unpausing video_discovery starts at once (about 60 s).
SETTLE_S, WINDOW_S = 75, 90
# How each process names itself (setproctitle); ``standalone`` is the parent that starts the others.
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api_server", "LocalExecutor", "standalone")
VARIANTS = {
    "the local stack (`make up`: S3 events, polling hourly)": {},
    "polling every minute (without S3 events; the local stack before)": {
        "VIDEO_PIPELINE_DISCOVERY_SCHEDULE": "* * * * *"},
}


def _cpu_by_component(root: psutil.Process) -> dict[str, float]:
    """CPU seconds so far of each component's processes under ``root`` (with their reaped children),
    and of the moto server, which runs in this process."""
    totals = dict.fromkeys(COMPONENTS, 0.0)
    for proc in [root, *root.children(recursive=True)]:
        try:
            command, t = " ".join(proc.cmdline()), proc.cpu_times()
        except psutil.Error:  # ended (or a zombie) between the listing and the read
            continue
        component = next((c for c in COMPONENTS if c in command), None)
        if component:
            totals[component] += t.user + t.system + t.children_user + t.children_system
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {**totals, "moto": own.ru_utime + own.ru_stime}


def idle_cost(endpoint: str, overrides: dict[str, str]) -> dict[str, float]:
    """Cores each component kept busy over the window, and their total."""
    home = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    port = local_env.free_port()
    env = {**os.environ, **local_env.airflow_env(home, endpoint, port), **overrides}
    with standalone(home, env, port) as api:
        for dag_id in ("video_pipeline", "video_events", "video_discovery"):
            api.set_paused(dag_id, False)
        (root,) = [p for p in psutil.Process().children() if "standalone" in " ".join(p.cmdline())]
        time.sleep(SETTLE_S)
        before = _cpu_by_component(root)
        time.sleep(WINDOW_S)
        after = _cpu_by_component(root)
    cores = {part: max(0.0, after[part] - before[part]) / WINDOW_S for part in after}
    return {**cores, "total": sum(cores.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="each variant this many times, in turn; medians")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write its section in")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with moto_endpoint() as endpoint:
        os.environ.update(local_env.airflow_env(Path(tempfile.mkdtemp()), endpoint))
        bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"),
                  settings=Settings.from_env())
        for _ in range(args.rounds):
            for name, overrides in VARIANTS.items():
                runs[name].append(idle_cost(endpoint, overrides))
                print(name, {part: round(value, 4) for part, value in runs[name][-1].items()}, flush=True)
    parts = [*COMPONENTS, "moto", "total"]
    rows = ["| | " + " | ".join(parts) + " |", "|---|" + "--:|" * len(parts)]
    rows += [f"| {name} | " + " | ".join(f"{statistics.median(r[p] for r in results):.3f}" for p in parts) + " |"
             for name, results in runs.items()]
    section = f"""
## The idle local stack

`bench/idle_stack.py`: `airflow standalone` as `make up` runs it (SQLite, LocalExecutor, the S3 event watcher
deferred to the triggerer), idle after {SETTLE_S} s, measured over {WINDOW_S} s on
{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the machine above ({args.rounds} round(s), medians):
cores kept busy on average by each component of the stack (its processes and their finished children; the
moto server as S3, DynamoDB and SQS) and in total. Only the stack's own processes are counted, not the machine.

{chr(10).join(rows)}

Whatever the idle stack burns is taken from the stages of the next upload. With S3 events delivering the
uploads, `video_discovery` polls hourly as a safety net (`VIDEO_PIPELINE_DISCOVERY_SCHEDULE`); the second row
is what a poll every minute costs (its sensor's task processes, and the scheduler examining its run).
"""
    print(write_section(args.out, "idle-stack", section))


if __name__ == "__main__":
    main()
