"""Scaling: every stage on clips of 60 s, 5 min and 20 min made the same way; time per minute and peak memory.

A stage that is linear in the video's length keeps its seconds per minute of video
flat; one that holds the video in memory grows its peak RSS with it. Each stage runs
through the ``video-worker`` CLI as its own process, as in ``bench/run.py``, once per
length (``--repeat`` for more). The 2-hour estimate comes from the measured slope.
Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import local_models
from clip import ensure_clip
from measure import Measurement
from report import write_section
from run import MAX_RSS_MB, Runner

from video_worker.settings import worker_settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
FLAT = 0.15  # seconds per minute may vary this much across lengths
STAGES = ("probe", "transcode", "transcribe", "detect", "previews", "burn", "package")
ESTIMATE_MIN = 120
RESULTS = OUT / "scaling.json"  # the last run's figures, for --report-only
# Whisper's VAD skips silence, and every clip has the same speech padded with silence: transcribe's work
# follows the speech, not the clip's length, so it is judged per minute of speech.
SPEECH_BOUND = {"transcribe"}


def run_stages(runner: Runner, source: Path) -> dict[str, Measurement]:
    """The stages in the DAG's order, each on the outputs of the ones before, as the pipeline runs them."""
    work = runner.work
    m: dict[str, Measurement] = {}
    for name in ("probe", "transcode", "transcribe", "detect", "previews"):
        m |= runner.measure(runner.stage(name, [name, "--source", str(source)]))
    transcode = m["transcode"].manifest()
    top = work / "transcode" / transcode["top"]
    subtitles = work / "transcribe" / "subtitles.vtt"
    language = m["transcribe"].manifest()["language"] or "und"
    m |= runner.measure(runner.stage("burn", ["burn", "--source", str(top), "--subtitles", f"{language}={subtitles}"]))
    m |= runner.measure(runner.stage("package", ["package", "--source", str(work / "transcode" / "manifest.json"),
                                                 "--subtitles", f"{language}={subtitles}"]))
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", default="60,300,1200", help="clip lengths in seconds (default 60,300,1200)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--attempts", type=int, default=1,
                        help="runs of a stage while other work competes for the CPUs, the least disturbed kept "
                             "(default 1: the 20-minute clip alone runs for half an hour)")
    parser.add_argument("--report-only", action="store_true",
                        help=f"write the section again from the last run's {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    durations = [float(d) for d in args.durations.split(",")]
    worker = shutil.which("video-worker") or sys.exit("video-worker is not on PATH: run `make bench`")
    envs = {"base": {**os.environ, **local_models.worker_env("base")}}
    if args.report_only:
        saved = json.loads(RESULTS.read_text())
        figures: dict[float, dict[str, tuple[float, float]]] = {float(d): f for d, f in saved["figures"].items()}
        print(write_section(ROOT / "BENCHMARKS.md", "scaling",
                            report(figures, saved["speech_s"], saved["at"], saved.get("attempts", 1))))
        return
    figures = {}
    for duration in durations:
        clip = ensure_clip(OUT, duration)
        work = OUT / f"scaling-{duration:g}s"
        shutil.rmtree(work, ignore_errors=True)
        measured = run_stages(Runner(worker, work, envs, args.repeat, attempts=args.attempts), clip.path)
        figures[duration] = {name: (m.seconds, m.peak_mb) for name, m in measured.items()}
        print(f"bench: {duration:g} s clip: {sum(m.seconds for m in measured.values()):.1f} s of stages",
              file=sys.stderr, flush=True)
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS.write_text(json.dumps({"at": at, "speech_s": clip.speech_s, "attempts": args.attempts, "figures": figures}))
    print(write_section(ROOT / "BENCHMARKS.md", "scaling", report(figures, clip.speech_s, at, args.attempts)))


def _attempts(attempts: int) -> str:
    if attempts == 1:
        return ("measured as it came, whatever else the machine was doing: on a shared machine the figures are "
                "pessimistic")
    return f"run again while other work competed for the CPUs, up to {attempts} times, the least disturbed kept"


def report(figures: dict[float, dict[str, tuple[float, float]]], speech_s: float, at: str, attempts: int) -> str:
    """figures: clip length -> stage -> (seconds, peak MB)."""
    durations = sorted(figures)
    head = " | ".join(f"{d / 60:g} min: s/min, peak MB" for d in durations)
    rows = [(f"| stage | {head} | s/min, longest against shortest | linear (grows ≤ {FLAT:.0%}) "
             f"| peak ≤ {MAX_RSS_MB:g} MB |"), "|---|" + "--:|" * len(durations) + "--:|---|---|"]
    totals = {d: sum(seconds for seconds, _ in figures[d].values()) for d in durations}
    for stage in (*STAGES, "all stages"):
        if stage == "all stages":
            per_min = [totals[d] / (d / 60) for d in durations]
            peaks = [max(mb for _, mb in figures[d].values()) for d in durations]
        else:
            per_min = [figures[d][stage][0] / (d / 60) for d in durations]
            peaks = [figures[d][stage][1] for d in durations]
        growth = per_min[-1] / per_min[0] - 1
        cells = " | ".join(f"{p:.1f}, {mb:.0f}" for p, mb in zip(per_min, peaks))
        peak_ok = "pass" if max(peaks) <= MAX_RSS_MB else f"**miss** ({max(peaks):.0f} MB)"
        linear = "pass" if growth <= FLAT else "**miss**"
        if stage in SPEECH_BOUND:
            speech = [figures[d][stage][0] / (min(d, speech_s) / 60) for d in durations]
            linear = (f"n/a: follows the speech, {min(durations[0], speech_s):.0f} s in every clip "
                      f"({' and '.join(f'{x:.1f}' for x in speech)} s per minute of speech)")
        rows.append(f"| {stage} | {cells} | {growth:+.0%} | {linear} | {peak_ok} |")
    # Least squares over the measured lengths, without transcribe: seconds = fixed + slope * minutes.
    xs = [d / 60 for d in durations]
    ys = [totals[d] - sum(figures[d][t][0] for t in SPEECH_BOUND) for d in durations]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
             if len(xs) > 1 else my / mx)
    fixed = my - slope * mx
    speech_rate = sum(figures[durations[-1]][t][0] for t in SPEECH_BOUND) / (min(durations[-1], speech_s) / 60)
    estimate = fixed + (slope + speech_rate) * ESTIMATE_MIN
    split_over, clip_len = worker_settings().split_over_s, worker_settings().clip_length_s
    lengths = ", ".join(f"{d:g} s" for d in durations)
    return f"""
## Scaling with the video's length

`bench/scaling.py`: every stage through the CLI, one after another, on clips of {lengths}
made the same way (the bench clip's recipe: thirds of `testsrc2`, the zooming cat and the astronaut, and the same
{speech_s:.0f} s of speech padded with silence), measured {at} on the machine above, each stage once per clip
({_attempts(attempts)}). Seconds per minute of video, and
peak RSS (the higher of the largest process and the sampled tree). A falling cost per minute is a fixed cost
(start-up, model loading, the poster and GIF searches, the packager) spread over more video; a rising one
would be work that grows faster than the video.

{chr(10).join(rows)}

A least-squares line through the totals of the other stages gives {fixed:.1f} s fixed plus {slope:.1f} s per
minute of video; transcribe adds {speech_rate:.1f} s per minute of speech. So a 2-hour video that is speech
throughout needs about {estimate / 60:.0f} min of stage time on this machine, one stage after another
({estimate / 7200:.2f}× its length). Transcode splits any video over {split_over:g} s into {clip_len:g} s clips \
by stream copy at the
forced keyframes (no re-encode), {ESTIMATE_MIN * 60 / clip_len:.0f} clips for 2 hours; that split is part of the
slope above.
"""


if __name__ == "__main__":
    main()
