"""``make bench``: run every worker stage on a synthetic clip, check the targets, write BENCHMARKS.md.

Each stage runs through the ``video-worker`` CLI as its own process, exactly as
the pipeline runs it, so the figures include Python start-up, imports and model
loading: the costs a real task pays. Models come from local files
(scripts/local_models.py), so nothing is downloaded while the clock runs. Extra
runs (decode only; one rung; transcode on a copy without audio; one AAC encode;
detect on a 1 fps copy; the YOLO model alone) explain where a
stage's time goes, so that the report's analysis rests on measurements too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import analysis
import local_models
from analysis import Costs, phases_of
from clip import Clip, ensure_clip, one_fps_copy, video_only_copy
from measure import CONTENDED_CORES, Measurement, measure, wait_for_quiet
from report import Phase, Result, Target, ffmpeg_version, write_report

from video_worker.settings import worker_settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

LADDER_MIN_X = 2.0
WHISPER_MIN_X = {"tiny.en": 8.0, "base": 4.0}
DETECT_FPS = 1.0
DETECT_MAX_MS = 80.0
MAX_RSS_MB = 1500.0  # 1.5 GB
# Each run waits for other work to leave the CPUs; one that shared them anyway is repeated, the least disturbed kept.
QUIET_WAIT_S = 120
WAIT_BUDGET_S = 900  # for the whole benchmark; once spent, runs are measured as they come and not repeated
ATTEMPTS = 3
# The worker's own ffmpeg (VIDEO_WORKER_FFMPEG), so that the floors below are the stages'.
FFMPEG = [worker_settings().ffmpeg_command, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
# Imported once before timing so that the first stage to need them does not also pay for a cold disk.
HEAVY_IMPORTS = "import cv2, ctranslate2, faster_whisper, onnxruntime, torch, torchvision, ultralytics"
# Where each stage's time goes, cut at its log lines: (part, pattern of the line that ends it, grows with the clip).
TRANSCODE_MARKS = [
    ("Python start-up, imports and probe", r"running: \S*ffmpeg\S* .*-filter_complex", False),
    ("the ladder's ffmpeg: one decode, scaling, every encode", r"running: \S*ffmpeg\S* .*-c copy", True),
    ("remuxing and describing the renditions, exit", None, False),
]
TRANSCRIBE_MARKS = [
    ("Python start-up and stage imports", r"running: ffprobe", False),
    ("probe", r"running: \S*ffmpeg\S* .*audio\.wav", False),
    ("audio extraction + faster-whisper import", r"faster-whisper model=", False),
    ("model load", r"Processing audio with duration", False),
    ("VAD, language detection, decoding, writing subtitles", None, True),
]
DETECT_MARKS = [
    ("Python start-up and stage imports (cv2, numpy)", r"running: ffprobe", False),
    ("probe", r"loading YOLO model", False),
    ("model load (onnxruntime) + warm-up", r"running: \S*ffmpeg\S* .*-vf fps=", False),
    ("frame loop: decode, inference, scratch JPEGs", r"sampled \d+ frames", True),
    ("thumbnails, manifest, interpreter exit", None, False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0,
                        help="clip length in seconds (default 60; shorter for a quick check)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each command; the median is reported (default 3; 1 for a quick check)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.duration < 3:
        parser.error("--duration must be at least 3 s: the clip has three parts")
    worker = shutil.which("video-worker")
    if worker is None:
        sys.exit("video-worker is not on PATH: run `make bench`, or put the project's venv bin/ first on PATH")

    clip = ensure_clip(OUT, args.duration)
    work = OUT / f"run-{args.duration:g}s"
    shutil.rmtree(work, ignore_errors=True)
    envs = {name: {**os.environ, **local_models.worker_env(name)} for name in WHISPER_MIN_X}
    subprocess.run([sys.executable, "-c", HEAVY_IMPORTS], check=True, capture_output=True)
    load_before = os.getloadavg()[0]
    runs = measure_all(Runner(worker, work, envs, args.repeat), clip)
    write_report(args.output, clip, results(runs, clip.duration_s), (load_before, os.getloadavg()[0]),
                 f"Before each run the benchmark waited, up to {QUIET_WAIT_S} s, for others to use under "
                 f"{CONTENDED_CORES:g} cores; a run during which they used more anyway was repeated, up to "
                 f"{ATTEMPTS} attempts, and the least disturbed kept ({WAIT_BUDGET_S} s of waiting at most over "
                 "the whole benchmark).")
    print(f"bench: wrote {args.output}", file=sys.stderr)


@dataclass(frozen=True)
class Job:
    """A command to measure; ``name`` keys its measurement, and names its logs and output folder."""

    name: str
    cmd: list[str]
    env: str = "base"  # which Whisper model the worker settings point at
    dest: Path | None = None  # emptied before every run


@dataclass
class Runner:
    """Measures jobs ``repeat`` times each, and a run again while other work competes for the CPUs."""

    worker: str
    work: Path
    envs: dict[str, dict[str, str]]
    repeat: int
    wait_budget_s: float = WAIT_BUDGET_S  # what is left of it: a machine that is never quiet must not stall us
    attempts: int = ATTEMPTS  # runs of a job while others compete, the least disturbed kept

    def stage(self, name: str, argv: list[str], env: str = "base") -> Job:
        """``video-worker`` with ``argv``, its outputs under work/``name``.

        ``--verbose``: the commands a stage runs are logged at DEBUG, and the
        phases of "Where the time goes" are cut at those lines.
        """
        dest = self.work / name.replace(" ", "-")
        return Job(name, [self.worker, *argv, "--dest", str(dest), "--verbose"], env, dest)

    def measure(self, *jobs: Job) -> dict[str, Measurement]:
        """Each job's run with the median time, carrying every run's time in ``repeats``.

        The jobs take turns, round after round, so that a drift in this shared machine's speed
        touches every job alike and the runs compared with one another stay comparable.
        """
        runs: dict[str, list[Measurement]] = {job.name: [] for job in jobs}
        for i in range(self.repeat):
            for job in jobs:
                runs[job.name].append(self._least_disturbed(job, job.name.replace(" ", "-") + f"-run{i + 1}"))
        medians = {}
        for name, measured in runs.items():
            measured.sort(key=lambda m: m.seconds)
            medians[name] = replace(measured[len(measured) // 2], repeats=tuple(m.seconds for m in measured))
        return medians

    def _least_disturbed(self, job: Job, label: str) -> Measurement:
        best = self._attempt(job, label)
        for number in range(2, self.attempts + 1):
            if not best.disturbed or self.wait_budget_s <= 0:
                break
            print(f"bench: other processes were busy during {label}: again", file=sys.stderr, flush=True)
            best = min(best, self._attempt(job, f"{label}-attempt{number}"), key=lambda m: m.others_share)
        return best

    def _attempt(self, job: Job, label: str) -> Measurement:
        if job.dest is not None:
            shutil.rmtree(job.dest, ignore_errors=True)
        others, waited = wait_for_quiet(min(QUIET_WAIT_S, max(self.wait_budget_s, 0)))
        self.wait_budget_s -= waited
        if others > CONTENDED_CORES:
            print(f"bench: others still use {others:.2f} cores after {waited:.0f} s; measuring anyway",
                  file=sys.stderr, flush=True)
        print(f"bench: {label} ...", file=sys.stderr, flush=True)
        m = measure(label, job.cmd, self.work / "logs", self.envs[job.env])
        if m.returncode != 0:
            sys.exit(f"{label} failed (exit {m.returncode}); see {m.stderr}:\n{m.stderr.read_text()[-3000:]}")
        print(f"bench: {label} {m.seconds:.1f} s, others {m.others_share:.2f} cores", file=sys.stderr, flush=True)
        return m


def measure_all(runner: Runner, clip: Clip) -> dict[str, Measurement]:
    """Every stage, each in turn with the runs that explain it."""
    work, source, fps = runner.work, ["--source", str(clip.path)], f"{DETECT_FPS:g}"
    m = runner.measure(runner.stage("probe", ["probe", *source]))
    m |= runner.measure(
        runner.stage("transcode", ["transcode", *source]),
        Job("decode", [*FFMPEG, "-i", str(clip.path), "-f", "null", "-"]),
        runner.stage("720p only", ["transcode", *source, "--ladder", "720"]),
        runner.stage("video only", ["transcode", "--source", str(video_only_copy(clip))]),
        Job("aac once", [*FFMPEG, "-i", str(clip.path), "-vn", "-map", "0:a:0", "-c:a", "aac",
                         "-b:a", worker_settings().audio_bitrate, "-ac", "2", str(work / "aac-once.m4a")]),
    )
    m |= runner.measure(*[runner.stage(f"transcribe {name}", ["transcribe", *source], env=name)
                          for name in WHISPER_MIN_X])
    m |= runner.measure(
        runner.stage("detect", ["detect", *source, "--fps", fps]),
        runner.stage("detect 1 fps", ["detect", "--source", str(one_fps_copy(clip)), "--fps", fps]),
        Job("yolo", [sys.executable, str(ROOT / "bench" / "yolo_floor.py"),
                     runner.envs["base"]["VIDEO_WORKER_YOLO_MODEL"]]),
    )
    m |= runner.measure(runner.stage("previews", ["previews", *source]))
    top = work / "transcode" / m["transcode"].manifest()["top"]
    language = m["transcribe base"].manifest()["language"] or "und"
    m |= runner.measure(runner.stage("burn", ["burn", "--source", str(top), "--subtitles",
                                              f"{language}={work / 'transcribe-base' / 'subtitles.srt'}"]))
    return m


def results(m: dict[str, Measurement], duration: float) -> list[Result]:
    """The report's rows, with targets checked and the reasons written where one is missed or close."""
    costs = Costs(model=json.loads(m["yolo"].stdout.read_text()))
    detected = m["detect"].manifest()
    rows = [
        Result("decode floor", m["decode"], "`ffmpeg -i clip -f null -`: decoding the clip once, no stage"),
        Result("probe", m["probe"], _probe_notes(m["probe"])),
        Result("transcode", m["transcode"], _transcode_notes(m["transcode"]),
               [Target("speed", duration / m["transcode"].seconds, LADDER_MIN_X, "x realtime", higher_is_better=True)],
               [*phases_of(m["transcode"], TRANSCODE_MARKS),
                Phase("decode only (`ffmpeg -i clip -f null -`)", m["decode"].seconds, separate=True),
                Phase("AAC encode of the audio, once", m["aac once"].seconds, separate=True),
                Phase("720p rung alone (`transcode --ladder 720`)", m["720p only"].seconds, separate=True),
                Phase("the stage on a copy of the clip without audio", m["video only"].seconds, separate=True)]),
        Result("transcode 720p only", m["720p only"], "diagnostic: the top rung alone (`--ladder 720`)"),
        Result("transcode, no audio", m["video only"],
               "diagnostic: the stage on a copy of the clip without its audio (video stream copied)"),
        Result("AAC encode once", m["aac once"], "diagnostic: the clip's audio to AAC, once, at the stage's bitrate"),
        *[Result(f"transcribe {name}", m[f"transcribe {name}"], _transcribe_notes(m[f"transcribe {name}"]),
                 [Target("speed", duration / m[f"transcribe {name}"].seconds, minimum, "x realtime",
                         higher_is_better=True)],
                 phases_of(m[f"transcribe {name}"], TRANSCRIBE_MARKS))
          for name, minimum in WHISPER_MIN_X.items()],
        Result("detect", m["detect"], _detect_notes(m["detect"]), [
            Target("wall per sampled frame", 1000 * m["detect"].seconds / detected["frames_sampled"],
                   DETECT_MAX_MS, "ms"),
            Target("inference per frame", detected["ms_per_frame"], DETECT_MAX_MS, "ms"),
        ], [
            *phases_of(m["detect"], DETECT_MARKS),
        ]),
        Result("detect, 1 fps source", m["detect 1 fps"],
               f"diagnostic: detect on a 1 fps copy of the clip, so ffmpeg decodes only the frames it keeps: "
               f"inference {m['detect 1 fps'].manifest()['ms_per_frame']:g} ms/frame"),
        Result("previews", m["previews"], _previews_notes(m["previews"])),
        Result("burn", m["burn"], _burn_notes(m["burn"])),
    ]
    for r in rows:
        if r.notes.startswith("diagnostic") or r.stage == "decode floor":
            continue
        r.targets.append(Target("peak RSS", r.measurement.peak_mb, MAX_RSS_MB, "MB"))
        r.why += [line for t in r.missed if t.unit == "MB" for line in analysis.memory(r, t)]
        speed = [t for t in r.targets if t.unit != "MB"]
        if not any(t in r.missed or t.close for t in speed):
            continue
        if r.stage == "transcode":
            r.why += analysis.transcode(r, speed[0], duration, m, ffmpeg_version())
        elif r.stage.startswith("transcribe"):
            r.why += analysis.transcribe(r, speed[0], duration, str(worker_settings().whisper_beam_size))
        else:
            r.why += analysis.detect(r, speed[0], costs, m["detect 1 fps"], str(worker_settings().detect_imgsz))
    return rows


def _probe_notes(m: Measurement) -> str:
    p = m.manifest()
    return f"{p['width']}x{p['height']} {p['fps']:g} fps {p['video_codec']}/{p['audio_codec']}, {p['duration_s']:g} s"


def _transcode_notes(m: Measurement) -> str:
    rungs = ", ".join(f"{r['name']} {r['width']}x{r['height']}" for r in m.manifest()["renditions"])
    return f"renditions: {rungs}"


def _transcribe_notes(m: Measurement) -> str:
    t = m.manifest()
    return (f"language {t['language']} (p={t['language_probability']:g}), {t['words']} words, "
            f"{t['cues']} cues, on {t['device']}")


def _detect_notes(m: Measurement) -> str:
    d = m.manifest()
    wall_ms = 1000 * m.seconds / d["frames_sampled"]
    labels = ", ".join(f"{a['label']} {a['first_s']:g}-{a['last_s']:g} s" for a in d["animals"]) or "none"
    return (f"{d['frames_sampled']} frames at {DETECT_FPS:g} fps on {d['device']}: inference "
            f"{d['ms_per_frame']:g} ms/frame (manifest), wall {wall_ms:.0f} ms/frame; found {labels}")


def _previews_notes(m: Measurement) -> str:
    p = m.manifest()
    lab = p["labelling"]
    return (f"poster, {len(p['gifs'])} GIFs, storyboard of {p['storyboard']['tiles']} tiles, {lab['kept']} "
            f"labelling frames kept ({lab['dropped_frozen']} frozen, {lab['dropped_black']} black dropped)")


def _burn_notes(m: Measurement) -> str:
    b = m.manifest()
    return (f"top rendition + transcribe base's .srt: burned.mp4 {b['size_bytes']['burned'] / 1e6:.1f} MB "
            f"(re-encoded), soft.mp4 {b['size_bytes']['soft'] / 1e6:.1f} MB (stream copy)")


if __name__ == "__main__":
    main()
