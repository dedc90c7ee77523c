"""Where each second goes: every worker stage on the bench clip under py-spy, and one Airflow task's start-up.

Each stage runs as a DAG run runs it, one after another: ``video-worker`` with the arguments the DAG plans
for it (``video_pipeline.planning``), reading its input from S3 and writing its outputs there (a moto
server). Each runs twice: plainly, for its wall and CPU time (``os.wait4`` over its process tree), and under
``py-spy record --subprocesses --nonblocking`` for where that CPU goes. Meanwhile the profiled tree is
sampled for each process's and each thread's CPU time: a tool the stage runs (ffmpeg, ffprobe, the packager)
is a place of its own; a Python thread's CPU is split by what py-spy's samples of it were doing (imports,
model load, inference, S3 I/O, or else the function); a Python process's other threads are native pools
(onnxruntime's, CTranslate2's), which py-spy cannot see into.

Then Airflow's own cost for one task: ``airflow dags test`` of a DAG whose one task does nothing, with the
wall and CPU time before and after its callable, and where that CPU goes. Writes the "Where each second
goes" section of BENCHMARKS.md.

    python bench/stage_profile.py [--stages probe,transcribe] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import boto3
import local_env
import local_models
import psutil
from clip import ensure_clip
from measure import SAMPLE_EVERY_S, Measurement, TreeSampler, measure
from moto_endpoint import moto_endpoint
from report import write_section

from video_contract.manifests import Manifest, TranscribeManifest, read_cues, read_manifest
from video_contract.stages import Stage
from video_pipeline.identity import video_id
from video_pipeline.planning import Inputs, RunOptions, plan
from video_pipeline.registration import Registration
from video_pipeline.stages import worker_args

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BUCKET = "video-pipeline-profile"
RATE_HZ = 100  # py-spy's samples a second: its default; 10 ms is finer than any place worth naming
TOP_PLACES = 5
# The stages a profiled stage reads the outputs of; they run first, unprofiled, when not profiled themselves.
NEEDS = {Stage.CAPTIONS: {Stage.TRANSCRIBE}, Stage.PREVIEWS: {Stage.DETECT},
         Stage.BURN: {Stage.TRANSCODE, Stage.TRANSCRIBE}, Stage.PACKAGE: {Stage.TRANSCODE, Stage.TRANSCRIBE}}
FIRST_PARTY = ("video_worker", "video_pipeline", "video_contract")
ML = ("onnxruntime", "faster_whisper", "ctranslate2", "ultralytics", "torch")
NATIVE = "native threads (onnxruntime's and CTranslate2's pools)"
NO_FRAME = "no Python frame (interpreter start-up and exit)"
# A py-spy sample's place: the first rule that any frame of its stack matches, else the function it was in.
RULES: list[tuple[str, re.Pattern[str]]] = [
    ("Python imports", re.compile(r"^<frozen importlib")),
    ("S3 I/O (boto3)", re.compile(r"/(botocore|boto3|s3transfer)/")),
    ("model load", re.compile(r"/(onnxruntime|faster_whisper|ctranslate2)/.*:(\w+\.)?__init__$"
                              r"|/video_worker/.*:(\w+\.)?\w*load\w*$")),
    ("inference (onnxruntime, faster-whisper)", re.compile(r"/(onnxruntime|faster_whisper|ctranslate2)/")),
    ("building the execution API (FastAPI, pydantic)", re.compile(r"/(fastapi|starlette|pydantic)/")),
    ("database (SQLAlchemy, SQLite)", re.compile(r"/(sqlalchemy|alembic)/")),
]
TRIVIAL_DAG = '''"""One task that does nothing: what Airflow costs around a callable (bench/stage_profile.py)."""
import json
import os
import time

from airflow.sdk import dag, task


@dag(schedule=None)
def startup_probe():
    @task
    def noop():
        stamps = {"ppid": os.getppid(), "start": time.time(), "start_cpu": time.process_time()}
        stamps |= {"end": time.time(), "end_cpu": time.process_time()}
        with open(os.environ["STARTUP_STAMPS"], "w") as f:
            json.dump(stamps, f)

    noop()


startup_probe()
'''


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: float  # the plain run's wall time
    cpu_seconds: float  # the plain run's CPU time, its whole process tree
    profiled_seconds: float
    places: list[tuple[str, float]]  # CPU seconds in the profiled run, largest first
    phases: dict[str, float]  # Airflow only: wall and CPU before and after the callable


class TreeCpu(TreeSampler):
    """Each process's and each thread's CPU seconds in a process tree.

    The last reading of each is kept, so a process that exits loses at most SAMPLE_EVERY_S of its time.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.commands: dict[int, list[str]] = {}
        self.threads: dict[int, dict[int, float]] = defaultdict(dict)  # pid: {tid: CPU seconds}

    def sample(self, procs: list[psutil.Process]) -> None:
        for proc in procs:
            try:
                with proc.oneshot():
                    self.commands.setdefault(proc.pid, proc.cmdline())
                    self.threads[proc.pid].update({t.id: t.user_time + t.system_time for t in proc.threads()})
            except psutil.Error:
                pass


def place(frames: list[dict]) -> str:
    """Where a py-spy sample was: the first of RULES that a frame of its stack matches, else the innermost
    function of the project (or, outside it, the innermost function)."""
    frames = [f for f in frames if f["file"]]  # py-spy's "process PID:command" root
    if not frames:
        return NO_FRAME
    keys = [f"{f['file']}:{f['name']}" for f in frames]
    for label, pattern in RULES:
        if any(pattern.search(k) for k in keys):
            return label
    own = [f for f in frames if any(f"/{p}/" in f["file"] for p in FIRST_PARTY)]
    f = (own or frames)[-1]
    return f"{f['name']} ({Path(f['file']).name})"


def places(speedscope: Path, tree: TreeCpu, profiler_pid: int) -> list[tuple[str, float]]:
    """CPU seconds by place: each sampled Python thread's CPU split by its samples, the unsampled threads of
    a Python process, and each other process by its program (ffmpeg, ffprobe, packager)."""
    data = json.loads(speedscope.read_text())
    frames = data["shared"]["frames"]
    samples: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for profile in data["profiles"]:
        found = re.match(r"Process (\d+) Thread (\d+)", profile["name"])
        if found:
            pid, tid = int(found[1]), int(found[2])
            for stack, weight in zip(profile["samples"], profile["weights"]):
                samples[pid, tid][place([frames[i] for i in stack])] += weight
    python = {pid for pid, _ in samples}
    total: dict[str, float] = defaultdict(float)
    runs: Counter[str] = Counter()
    for pid, threads in tree.threads.items():
        if pid == profiler_pid:
            continue
        if pid not in python:
            program = Path(tree.commands.get(pid, ["?"])[0]).name.split("-")[0]  # imageio-ffmpeg's ffmpeg-linux-...
            runs[program] += 1
            total[program] += sum(threads.values())
            continue
        for tid, cpu in threads.items():
            seen = samples.get((pid, tid))
            if not seen:
                total[NATIVE] += cpu
                continue
            weight = sum(seen.values())
            for label, w in seen.items():
                total[label] += cpu * w / weight
    named = {(f"{p} ({runs[p]} runs)" if runs.get(p, 0) > 1 else p): s for p, s in total.items()}
    return sorted(named.items(), key=lambda kv: -kv[1])


def profiled(name: str, cmd: list[str], logs: Path, env: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """``cmd`` under py-spy: its wall seconds and its CPU seconds by place."""
    logs.mkdir(parents=True, exist_ok=True)
    speedscope = logs / f"{name}.speedscope.json"
    spy = ["py-spy", "record", "--subprocesses", "--nonblocking", "--format", "speedscope",
           "--rate", str(RATE_HZ), "--output", str(speedscope), "--"]
    with (logs / f"{name}.profiled.stdout").open("wb") as out, (logs / f"{name}.profiled.stderr").open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*spy, *cmd], stdout=out, stderr=err, env=env)
        tree = TreeCpu(proc.pid)
        tree.start()
        returncode = proc.wait()
        seconds = time.perf_counter() - started
        tree.stop.set()
        tree.join()
    if returncode != 0:
        raise SystemExit(f"{name} under py-spy failed (exit {returncode}); see {logs}/{name}.profiled.stderr")
    return seconds, places(speedscope, tree, proc.pid)


class Stages:
    """The worker's stages on the bench clip in S3, each planned as the DAG plans it."""

    def __init__(self, clip: Path, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        key = f"incoming/{clip.name}"
        s3.upload_file(str(clip), BUCKET, key)
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
        vid = video_id(BUCKET, key, etag)
        self.video = Registration(video_id=vid, bucket=BUCKET, key=key, etag=etag, name=clip.name,
                                  source=f"s3://{BUCKET}/{key}", work=f"s3://{BUCKET}/work/{vid}", done=False)
        self.s3 = s3
        self.manifests: list[Manifest] = []
        self.review_texts: str | None = None

    def command(self, stage: Stage) -> list[str]:
        inputs = Inputs.of(RunOptions(), self.video, self.manifests, self.review_texts)
        invocation = plan(stage, inputs)
        if invocation is None:
            raise SystemExit(f"{stage}: the DAG would skip it on the bench clip")
        return ["video-worker", *worker_args(stage, invocation, self.video.stage_dest(stage))]

    def run(self, stage: Stage, profile: bool) -> Profile | None:
        """The stage, profiled or only run for its outputs; its manifest joins the ones later stages plan from."""
        if stage == Stage.CAPTIONS:
            self._review()
        cmd = self.command(stage)
        m = measure(str(stage), cmd, self.logs, self.env)
        if m.returncode != 0:
            raise SystemExit(f"{stage} failed (exit {m.returncode}); see {m.stderr}:\n{m.stderr.read_text()[-3000:]}")
        self.manifests.append(read_manifest(m.manifest()))
        if not profile:
            return None
        profiled_s, spent = profiled(str(stage), cmd, self.logs, self.env)
        print(f"bench: {stage} {m.seconds:.1f} s, {m.cpu_seconds:.1f} s CPU", file=sys.stderr, flush=True)
        return Profile(str(stage), m.seconds, m.cpu_seconds, profiled_s, spent, {})

    def _review(self) -> None:
        """A reviewer's answer that changes the first cue's text: the captions stage runs only on an edit."""
        transcribed = next(m for m in self.manifests if type(m) is TranscribeManifest)
        bucket, key = transcribed.uri(transcribed.cues_file).removeprefix("s3://").split("/", 1)
        cues = read_cues(json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        texts = [" ".join(cue.lines) for cue in cues]
        texts[0] = texts[0].upper()
        review_key = f"work/{self.video.video_id}/review/texts.json"
        self.s3.put_object(Bucket=BUCKET, Key=review_key, Body=json.dumps({"texts": texts}).encode())
        self.review_texts = f"s3://{BUCKET}/{review_key}"


def stages_to_run(wanted: Iterable[Stage]) -> list[Stage]:
    """The wanted stages and the ones they read from, in the DAG's order."""
    needed = set(wanted)
    for stage in list(needed):
        needed |= NEEDS.get(stage, set())
    return [s for s in Stage if s in needed]


def task_startup(env: dict[str, str], work: Path) -> Profile:
    """``airflow dags test`` of a DAG with one task that does nothing: wall and CPU before and after its
    callable, and where that CPU goes. ``dags test`` runs the callable in its own process, so the process's
    CPU time when the callable starts is all that came before it."""
    dags = work / "startup-dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "startup_probe.py").write_text(TRIVIAL_DAG)
    stamps = work / "startup-stamps.json"
    env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "STARTUP_STAMPS": str(stamps)}
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    cmd = ["airflow", "dags", "test", "startup_probe"]
    m: Measurement = measure("airflow-task", cmd, work, env)
    if m.returncode != 0:
        raise SystemExit(f"airflow dags test failed; see {m.stderr}")
    s = json.loads(stamps.read_text())
    if s["ppid"] != os.getpid():
        raise SystemExit("the task ran in a process of its own: its CPU before the callable is not the run's")
    phases = {"before_s": s["start"] - m.started_at, "after_s": m.started_at + m.seconds - s["end"],
              "before_cpu_s": s["start_cpu"], "after_cpu_s": m.cpu_seconds - s["end_cpu"]}
    profiled_s, spent = profiled("airflow-task", cmd, work, env)
    print(f"bench: airflow task {m.seconds:.1f} s, {m.cpu_seconds:.1f} s CPU", file=sys.stderr, flush=True)
    return Profile("one Airflow task (`airflow dags test`)", m.seconds, m.cpu_seconds, profiled_s, spent, phases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default=",".join(Stage),
                        help="comma-separated stages to profile (default: all); the ones they read from run first")
    parser.add_argument("--no-airflow", action="store_true", help="skip the Airflow task's start-up")
    parser.add_argument("--duration", type=float, default=60.0, help="clip length in seconds (default 60)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="report to write its section in")
    args = parser.parse_args()
    try:
        wanted = [Stage(s.strip()) for s in args.stages.split(",") if s.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if shutil.which("py-spy") is None:
        sys.exit("py-spy is not on PATH: run `make bench`, or put the project's venv bin/ first on PATH")
    clip = ensure_clip(OUT, args.duration)
    work = OUT / "profile"
    shutil.rmtree(work, ignore_errors=True)
    results: list[Profile] = []
    with moto_endpoint() as endpoint:
        env = {**os.environ, **local_models.worker_env("base")}
        stages = Stages(clip.path, env, work)
        for stage in stages_to_run(wanted):
            if (result := stages.run(stage, stage in wanted)) is not None:
                results.append(result)
        if not args.no_airflow:
            home = Path(tempfile.mkdtemp(prefix="bench-profile-airflow-"))
            results.append(task_startup({**os.environ, **local_env.airflow_env(home, endpoint)}, work))
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(write_section(args.out, "profile", report(clip.describe(), at, results)))


def report(clip: str, at: str, results: list[Profile]) -> str:
    rows = ["| stage | wall s | CPU s | CPU / wall | profiled wall s | where the CPU went (profiled run, CPU s) |",
            "|---|--:|--:|--:|--:|---|"]
    for r in results:
        spent = "; ".join(f"{label} {cpu:.1f}" for label, cpu in r.places[:TOP_PLACES] if cpu >= 0.05)
        rows.append(f"| {r.name} | {r.seconds:.1f} | {r.cpu_seconds:.1f} | {r.cpu_seconds / r.seconds:.2f} "
                    f"| {r.profiled_seconds:.1f} | {spent} |")
    airflow = next((r for r in results if r.phases), None)
    task = "" if airflow is None else (
        f"Airflow around one task that does nothing (`airflow dags test` of a one-task DAG, SQLite, the task in "
        f"the same process): {airflow.phases['before_s']:.1f} s of wall and {airflow.phases['before_cpu_s']:.1f} s "
        f"of CPU before the callable starts (interpreter and imports, DAG parse, the run's rows, and "
        f"`dags test`'s in-process execution API, a FastAPI app built for the run), "
        f"{airflow.phases['after_s']:.1f} s and {airflow.phases['after_cpu_s']:.1f} s after it returns (the "
        "task's state through that API, the run's end, interpreter exit). Every task of a `dags test` run pays "
        "the part after its callable; the first pays the API's building too.")
    return f"""
## Where each second goes

`bench/stage_profile.py` (`make bench`): each worker stage as the DAG plans it (`video_pipeline.planning`), reading
and writing S3 (moto server), one after another on the bench clip; measured {at} on the machine above.
Clip: {clip}

Wall and CPU come from a plain run (`os.wait4`, the stage's whole process tree); where the CPU went from a
second run under `py-spy record --subprocesses --nonblocking` ({RATE_HZ} Hz), with every process's and
thread's CPU time sampled every {SAMPLE_EVERY_S * 1000:.0f} ms: a tool the stage runs (ffmpeg, ffprobe, the
packager) is its own place; a Python thread's CPU is split by what py-spy found it doing (Python imports, model
load, inference, S3 I/O, else the function); a Python process's other threads are the native pools of
onnxruntime and CTranslate2 (Whisper's decoding), which py-spy cannot see into. The top {TOP_PLACES} places (the
whole profiles, for speedscope.app, are in `bench/out/profile/`):

{chr(10).join(rows)}

{task}
"""


if __name__ == "__main__":
    main()
