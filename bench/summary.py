"""The summary table at the top of BENCHMARKS.md: this commit against the peer script, and issue 25's targets.

Reads the last runs' results, bench/out/side-by-side.json (bench/side_by_side.py) and bench/out/throughput.json
(bench/throughput.py), so ``make bench`` runs it last; a result that is missing shows as not measured.

    python bench/summary.py [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import side_by_side
import throughput
from report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
# AWS EC2 On-Demand, c7i.large (2 vCPU Intel Xeon, 4 GiB), us-east-1, Linux: $0.08925 an hour
# (https://aws.amazon.com/ec2/pricing/on-demand/, as listed in 2024; not re-checked since). A 2-vCPU instance,
# like the 2-core machine the figures come from.
INSTANCE = "c7i.large"
INSTANCE_USD_PER_HOUR = 0.08925
NOT_MEASURED = "not measured"
FLOORS = """The last column is the best the pipeline can do on this machine without less of the work that both sides
must do, measured in the same runs: for `dags test`, its stage processes one after another (each from its
start to its exit) and Airflow's start-up before the first task (its import, DAG parses and execution API,
the same for any DAG), with nothing between the tasks; for the stack, `dags test`'s CPU spread over every
core with no orchestration at all; for CPU, the encodes (transcode and burn: x264 at the peer's settings),
the models (transcribe and detect: the peer's Whisper and YOLO over the same audio and frames) and
Airflow's own CPU, leaving nothing for probe, previews, package and captions; for the queue, every core
busy with the stack's CPU per video. Where a target is missed and its floor misses it too, only less of
that work meets it; "Against the straightforward script" and "Throughput" below split each floor into its
parts."""


def verdict(ratio: float, target: float, higher_is_better: bool = False) -> str:
    met = ratio >= target if higher_is_better else ratio <= target
    return "pass" if met else "**miss**"


def side_by_side_rows(path: Path) -> tuple[list[str], str]:
    """The one-video rows, and when they were measured."""
    if not path.is_file():
        return [f"| one video: `airflow dags test`, upload → published on the stack, CPU | {NOT_MEASURED} "
                f"(no {path.name}) | | | | | |"], NOT_MEASURED
    saved = json.loads(path.read_text())
    runs = {name: side_by_side.median([side_by_side.Run(**r) for r in rs]) for name, rs in saved["runs"].items()}
    peer, dags, stack = runs["peer"], runs["dags test"], runs["stack"]
    targets = side_by_side.TARGETS
    rounds = len(saved["runs"]["peer"])
    cores = os.cpu_count() or 1
    # The floors (see FLOORS): the stage processes alone; the CPU spread over every core; the parts of the CPU
    # that no cut of the other stages touches. None where the results predate the stages' CPU figures.
    floors = [side_by_side.dags_floor(dags) if dags.startup_s else None, dags.cpu_seconds / cores,
              sum(side_by_side.cpu_parts(dags)) if dags.stage_cpu else None]
    rows = []
    for (label, ours, theirs, target), floor in zip([
        (f"one video, wall s (median of {rounds}): `airflow dags test`", dags.seconds, peer.seconds,
         targets["dags test"]),
        (f"one video, wall s (median of {rounds}): upload → published on the local stack", stack.seconds,
         peer.seconds, targets["stack"]),
        ("one video, CPU s: `dags test`'s process tree, the peer's", dags.cpu_seconds, peer.cpu_seconds,
         targets["cpu"]),
    ], floors):
        bound = "" if floor is None else f"{floor:.1f} ({floor / theirs:.2f}×)"
        rows.append(f"| {label} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}× | ≤ {target:g}× "
                    f"| {verdict(ours / theirs, target)} | {bound} |")
    return rows, saved["at"]


def throughput_rows(path: Path) -> tuple[list[str], str]:
    """The queue rows (throughput, CPU and dollars per video-minute), and when they were measured."""
    if not path.is_file():
        return [f"| a queue of uploads: videos per hour, cost per video-minute | {NOT_MEASURED} (no {path.name}) "
                "| | | | | |"], NOT_MEASURED
    saved = json.loads(path.read_text())
    runs = {name: throughput.Run(**r) for name, r in saved["runs"].items()}
    stack, serial = runs["stack"], runs["peer, one after another"]
    parallel = runs[f"peer, {throughput.PARALLEL} at a time"]
    n = saved["uploads"]

    def dollars(run: throughput.Run) -> float:
        """A 2-vCPU instance busy with the queue: its price over the video-minutes it gets through."""
        return INSTANCE_USD_PER_HOUR * run.seconds / 3600 / run.video_minutes

    ratio = stack.per_hour / serial.per_hour
    return [
        (f"| {n} uploads, videos per hour: the stack, the peer one after another | {stack.per_hour:.1f} "
         f"| {serial.per_hour:.1f} | {ratio:.2f}× | ≥ {throughput.TARGET:g}× "
         f"| {verdict(ratio, throughput.TARGET, higher_is_better=True)} "
         f"| {stack.ceiling_per_hour:.1f} ({stack.ceiling_per_hour / serial.per_hour:.2f}×) |"),
        (f"| {n} uploads, videos per hour: the stack, the peer {throughput.PARALLEL} at a time "
         f"| {stack.per_hour:.1f} | {parallel.per_hour:.1f} | {stack.per_hour / parallel.per_hour:.2f}× | | | |"),
        (f"| cost per video-minute, CPU s of their processes (the whole machine's): the stack, the peer one after "
         f"another | {stack.cpu_per_video_minute:.0f} ({stack.machine_cpu_per_video_minute:.0f}) "
         f"| {serial.cpu_per_video_minute:.0f} ({serial.machine_cpu_per_video_minute:.0f}) "
         f"| {stack.cpu_per_video_minute / serial.cpu_per_video_minute:.2f}× | | | |"),
        (f"| cost per video-minute, US$ on a {INSTANCE} at ${INSTANCE_USD_PER_HOUR:g}/h: the stack, the peer one "
         f"after another | {dollars(stack):.5f} | {dollars(serial):.5f} | {dollars(stack) / dollars(serial):.2f}× "
         "| | | |"),
    ], saved["at"]


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                           check=False)
    return found.stdout.strip() or "unknown"


def report(one_video: Path, queue: Path) -> str:
    one, one_at = side_by_side_rows(one_video)
    many, queue_at = throughput_rows(queue)
    info = machine()
    return f"""
## Summary

Commit `{commit()}` on {info['CPU']} ({info['Cores']}, {info['Memory']}, GPU: {info['GPU']}). One video
measured {one_at} (`bench/side_by_side.py`), the queue {queue_at} (`bench/throughput.py`); against the peer
script `bench/peer.py`, with issue 25's targets. Written by `bench/summary.py` from their results.

| | the pipeline | the peer | pipeline / peer | target | | measured floor (/ peer) |
|---|--:|--:|--:|---|---|--:|
{chr(10).join(one + many)}

{FLOORS}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write the table in")
    parser.add_argument("--side-by-side", type=Path, default=side_by_side.RESULTS,
                        help="bench/side_by_side.py's results")
    parser.add_argument("--throughput", type=Path, default=throughput.RESULTS, help="bench/throughput.py's results")
    args = parser.parse_args()
    print(write_section(args.out, "summary", report(args.side_by_side, args.throughput), top=True))


if __name__ == "__main__":
    main()
