"""Throughput: N one-minute uploads to the running local stack, against the peer script on the same N clips.

One video at a time says little about a queue of them: the stack runs stages and runs side by side, the
peer script (bench/peer.py) runs one tool call after another. Three ways through the same N clips (the
bench clip, each copy with its own metadata tag so that every upload has its own ETag and video id):

- the local stack (``airflow standalone`` as ``make up`` runs it, the S3 event through SQS starting each
  run): all N uploaded at once, from the first upload to the last published;
- the peer script on one clip after another;
- the peer script on two clips at a time.

Each reports videos per hour and CPU seconds per video-minute, twice: the CPU of this benchmark's process
tree (the peer's processes; or moto, Airflow's daemons, its task processes and the stages), which other work
on a shared machine does not touch; and the whole machine's busy CPU (/proc/stat), as side_by_side.py counts
the stack's, which is only the benchmark's own on an otherwise idle machine. Writes bench/out/throughput.json
(for bench/summary.py) and its section of BENCHMARKS.md.

    python bench/throughput.py [--uploads 20] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import local_models
import psutil
from clip import Clip, ensure_clip
from clip import _derived as derived_copy  # clip.py's cached-copy helper; renaming it would change the clip's hash
from measure import machine_busy_seconds, measure
from moto_endpoint import moto_endpoint
from report import write_section
from side_by_side import Bench
from standalone import standalone

from video_pipeline.discovery import PIPELINE_DAG_ID

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = OUT / "throughput.json"
TARGET = 1.5  # issue 25: the stack's videos per hour over the peer's, one clip after another
SETTLE_S = 30  # after unpausing: the event watcher starts and the stack settles to idle (as side_by_side.py)
PUBLISH_TIMEOUT_S = 600  # per upload: the last of N may wait this long for each one before it
PARALLEL = 2


@dataclass(frozen=True)
class Run:
    seconds: float  # first upload (or first peer start) to the last published (or last peer exit)
    cpu_s: float  # the peer's processes (os.wait4); or this benchmark's process tree: moto and the whole stack
    machine_cpu_s: float  # the whole machine's busy CPU meanwhile
    videos: int
    video_minutes: float
    stage_cpu_s: float = 0.0  # the stack: its stage processes' CPU (their manifests' cpu_seconds), all videos

    @property
    def cpu_per_video(self) -> float:
        return self.cpu_s / self.videos

    @property
    def ceiling_per_hour(self) -> float:
        """Videos per hour if every core were busy with this run's work and nothing else."""
        return (os.cpu_count() or 1) * 3600 / self.cpu_per_video

    @property
    def per_hour(self) -> float:
        return self.videos * 3600 / self.seconds

    @property
    def cpu_per_video_minute(self) -> float:
        return self.cpu_s / self.video_minutes

    @property
    def machine_cpu_per_video_minute(self) -> float:
        return self.machine_cpu_s / self.video_minutes


def tree_cpu_seconds() -> float:
    """CPU seconds so far of this process and every live descendant, each with the children it has reaped:
    a process that exits moves into its parent's count, so the difference over a run is the tree's CPU."""
    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def clips(clip: Clip, n: int) -> list[Path]:
    """``n`` stream copies of the bench clip, each tagged with its number: distinct bytes, the same media."""
    return [derived_copy(clip, f"throughput-{i}", ["-map", "0", "-c", "copy", "-metadata",
                                                    f"comment=bench/throughput.py upload {i}",
                                                    "-movflags", "+faststart"]) for i in range(n)]


def peer(sources: list[Path], parallel: int, minutes: float) -> Run:
    """The peer script over ``sources``, ``parallel`` at a time."""
    logs = OUT / "throughput" / f"peer-{parallel}"
    shutil.rmtree(logs, ignore_errors=True)

    def one(n: int) -> float:
        m = measure(f"peer-{n}", [sys.executable, str(ROOT / "bench" / "peer.py"), "--source", str(sources[n]),
                                  "--out", str(logs / str(n))], logs, {**os.environ, **local_models.worker_env()})
        if m.returncode != 0:
            raise SystemExit(f"the peer failed on {sources[n]}: {m.stderr.read_text()[-3000:]}")
        print(f"bench: peer ({parallel} at a time) clip {n + 1} {m.seconds:.1f} s", file=sys.stderr, flush=True)
        return m.cpu_seconds

    busy, started = machine_busy_seconds(), time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        cpu = sum(pool.map(one, range(len(sources))))
    return Run(time.monotonic() - started, cpu, machine_busy_seconds() - busy, len(sources), len(sources) * minutes)


def stack(bench: Bench, sources: list[Path], minutes: float) -> Run:
    """All of ``sources`` uploaded at once to a running stack, until the last is published."""
    with standalone(bench.home, bench.env, bench.port) as api:
        for dag_id in (PIPELINE_DAG_ID, "video_events"):
            api.set_paused(dag_id, False)
        time.sleep(SETTLE_S)
        cpu, busy, started = tree_cpu_seconds(), machine_busy_seconds(), time.monotonic()
        waiting = {bench.upload(f"{bench.settings.incoming_prefix}throughput-{n}.mp4", source): n
                   for n, source in enumerate(sources)}
        videos = list(waiting)
        while waiting:
            if time.monotonic() - started > PUBLISH_TIMEOUT_S * len(sources):
                raise SystemExit(f"{len(waiting)} uploads not published in time; see {bench.home}/logs")
            for vid in list(waiting):
                if (status := bench.status(vid)) == "failed":
                    raise SystemExit(f"the stack's run of upload {waiting[vid]} failed; see {bench.home}/logs")
                if status == "published":
                    print(f"bench: stack upload {waiting.pop(vid)} published at {time.monotonic() - started:.0f} s",
                          file=sys.stderr, flush=True)
            time.sleep(1)
        seconds, cpu, busy = time.monotonic() - started, tree_cpu_seconds() - cpu, machine_busy_seconds() - busy
    stage_cpu = sum(sum(bench.stages(vid)[1].values()) for vid in videos)
    return Run(seconds, cpu, busy, len(sources), len(sources) * minutes, stage_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20, help="clips in the queue (default 20)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write its section in")
    args = parser.parse_args()
    if args.uploads < 1:
        parser.error("--uploads must be at least 1")
    clip = ensure_clip(OUT, 60.0)
    sources, minutes = clips(clip, args.uploads), clip.duration_s / 60
    runs = {"peer, one after another": peer(sources, 1, minutes),
            f"peer, {PARALLEL} at a time": peer(sources, PARALLEL, minutes)}
    with moto_endpoint() as endpoint:
        bench = Bench(clip.path, endpoint, Path(tempfile.mkdtemp(prefix="bench-throughput-")))
        runs["stack"] = stack(bench, sources, minutes)
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS.write_text(json.dumps({"at": at, "clip": clip.describe(), "uploads": args.uploads,
                                   "runs": {name: asdict(run) for name, run in runs.items()}}))
    print(write_section(args.out, "throughput", report(clip.describe(), at, runs)))


def report(clip: str, at: str, runs: dict[str, Run]) -> str:
    serial = runs["peer, one after another"]
    rows = [("| | seconds | videos per hour | against the peer one after another | CPU s per video-minute "
             "| the whole machine's |"),
            "|---|--:|--:|--:|--:|--:|"]
    rows += [f"| {name} | {r.seconds:.0f} | {r.per_hour:.1f} | {r.per_hour / serial.per_hour:.2f}× "
             f"| {r.cpu_per_video_minute:.0f} | {r.machine_cpu_per_video_minute:.0f} |" for name, r in runs.items()]
    stacked = runs["stack"]
    ratio = stacked.per_hour / serial.per_hour
    verdict = "pass" if ratio >= TARGET else f"**miss** ({ratio / TARGET - 1:+.0%})"
    cores = os.cpu_count() or 1
    needed = cores * 3600 / (TARGET * serial.per_hour)
    orchestration = stacked.cpu_s - stacked.stage_cpu_s
    floor = (f"On {cores} cores a queue is bound by CPU per video: at the stack's {stacked.cpu_per_video:.0f} s "
             f"no schedule does more than {stacked.ceiling_per_hour:.0f} videos an hour "
             f"({stacked.ceiling_per_hour / serial.per_hour:.2f}× the peer one after another), and the peer's own "
             f"{serial.cpu_per_video:.0f} s allow it {serial.ceiling_per_hour:.0f}. {TARGET:g}× the peer "
             f"({TARGET * serial.per_hour:.0f} videos an hour) needs at most {needed:.0f} s of CPU per video with "
             f"every core busy. Of the stack's {stacked.cpu_per_video:.0f} s per video, "
             f"{stacked.stage_cpu_s / stacked.videos:.0f} s are its stage processes (their manifests' "
             f"`cpu_seconds`) and {orchestration / stacked.videos:.0f} s the rest: Airflow's daemons and task "
             "processes, and moto.")
    return f"""
## Throughput: a queue of uploads

`bench/throughput.py` (`make bench`): {serial.videos} one-minute uploads (the bench clip, each copy with its own
metadata tag, so its own ETag) to the running local stack all at once, from the first upload to the last
published; and the peer script (`bench/peer.py`) on the same clips one after another, and {PARALLEL} at a time.
Measured {at} on the machine above. Clip: {clip}

{chr(10).join(rows)}

CPU is the benchmark's process tree over each run: the peer's processes; for the stack, moto, the scheduler,
triggerer, DAG processor, API server and task processes as well as the stages. The whole machine's busy time
(/proc/stat) beside it also counts whatever else ran; where it is near {os.cpu_count()} × the seconds, other work
kept the machine busy and the times are pessimistic. Target: the stack's videos per hour ≥ {TARGET:g}× the
peer's one after another: {verdict} ({ratio:.2f}×).

{floor}
"""


if __name__ == "__main__":
    main()
