"""Targets, and BENCHMARKS.md rendered from the measurements: no figure in it is typed by hand."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from clip import Clip
from measure import Measurement

from video_worker.settings import worker_settings

CLOSE_MARGIN = 0.15
# Sections that other scripts append to the report between <!-- name --> and <!-- /name --> survive a rewrite.
KEPT_BLOCK = re.compile(r"<!-- ([\w-]+) -->.*?<!-- /\1 -->", re.DOTALL)
LIBRARIES = ("faster-whisper", "ctranslate2", "onnxruntime", "ultralytics", "torch")


@dataclass(frozen=True)
class Target:
    label: str
    value: float
    limit: float
    unit: str  # "x realtime", "ms" or "MB"
    higher_is_better: bool = False

    @property
    def margin(self) -> float:
        """How far inside the target (positive) or outside it (negative), as a share."""
        return self.value / self.limit - 1 if self.higher_is_better else 1 - self.value / self.limit

    @property
    def met(self) -> bool:
        return self.margin >= 0

    @property
    def close(self) -> bool:
        """Met, but by so little that run-to-run noise on a shared machine could flip it."""
        return self.met and self.margin < CLOSE_MARGIN

    def verdict(self) -> str:
        """``pass`` or ``miss``, the comparison, and the margin in the terms that matter."""
        value, limit = _fmt(self.value, self.unit), _fmt(self.limit, self.unit)
        if self.higher_is_better:
            sign = "≥" if self.met else "<"
            # For a speed, the share of its time the stage must shed, or could still add.
            margin = (f"could take {self.margin:.0%} longer" if self.met
                      else f"needs {1 - self.value / self.limit:.0%} less time")
        else:
            sign = "≤" if self.met else ">"
            margin = f"{self.margin:.0%} under" if self.met else f"{-self.margin:.0%} over"
        return f"{'pass' if self.met else '**miss**'}: {self.label} {value} {sign} {limit} ({margin})"


@dataclass(frozen=True)
class Phase:
    """A stretch of a stage's wall time, delimited by its log lines or by a separate run."""

    label: str
    seconds: float
    inference: bool = False  # the part that grows with the clip; the others are paid once a run
    separate: bool = False  # measured in a run of its own, for comparison: not a part of the stage's run


@dataclass
class Result:
    stage: str
    measurement: Measurement
    notes: str
    targets: list[Target] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    why: list[str] = field(default_factory=list)  # filled in only where a target is missed or close

    @property
    def missed(self) -> list[Target]:
        return [t for t in self.targets if not t.met]

    @property
    def close(self) -> list[Target]:
        return [t for t in self.targets if t.close]


def _fmt(value: float, unit: str) -> str:
    if unit == "x realtime":
        return f"{value:.2f}x"
    return f"{value:.0f} {unit}"


def ffmpeg_version() -> str:
    """The worker's ffmpeg (VIDEO_WORKER_FFMPEG), such as ``9.0.2-17-g2a571b6068-20260930`` or ``5.1.9-0+deb12u1``."""
    out = subprocess.run([worker_settings().ffmpeg_command, "-version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[2].removeprefix("n")  # the imageio-ffmpeg build's version is its git tag: n9.0.2-...


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem_total = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
    if mem_total is None:
        raise RuntimeError("/proc/meminfo has no MemTotal line")
    mem_kib = int(mem_total[1])
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)', os_release, re.MULTILINE)
    gpu = "none"
    if shutil.which("nvidia-smi"):
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout.strip() or "none"
    return {
        "CPU": model[1].strip() if model else platform.processor() or platform.machine(),
        "Cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process",
        "Memory": f"{mem_kib / 2**20:.1f} GiB",
        "OS": f"{os_name[1] if os_name else platform.system()}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "ffmpeg": ffmpeg_version(),
        "Libraries": ", ".join(f"{name} {metadata.version(name)}" for name in LIBRARIES),
        "GPU": gpu,
    }


def write_report(path: Path, clip: Clip, results: list[Result], load: tuple[float, float],
                 contention: str) -> None:
    """BENCHMARKS.md: machine, clip, the table, where time goes, and why targets are missed.

    ``contention`` says how the runs dealt with other work on the machine.
    """
    reported = (r.measurement.manifest().get("device") for r in results)
    devices = sorted({device for device in reported if device is not None})
    info = machine()
    info["GPU"] += f" (the model stages reported device: {', '.join(devices)})" if devices else ""
    busiest = max(results, key=lambda r: r.measurement.others_share)
    info["Load"] = (f"1-minute load average {load[0]:.2f} before the runs and {load[1]:.2f} after, the benchmark's "
                    f"own processes included; other processes used at most {busiest.measurement.others_share:.2f} "
                    f"cores on average during any one run ({busiest.stage}; see the others column)")
    lines = [
        "# Benchmarks",
        "",
        ("Every stage of the media worker, run through the `video-worker` CLI as its own process on a "
         "local file, the way the pipeline runs it: the times include Python start-up, imports and model "
         "loading. Written by `make bench` (`bench/run.py`); rerunning it rewrites this file."),
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in info.items()],
        "",
        "## Clip",
        "",
        clip.describe(),
        "",
        "## Results",
        "",
        _method(len(results[0].measurement.repeats), contention),
        "",
        *_table(results, clip.duration_s),
        "",
        "## Where the time goes",
        "",
    ]
    for r in results:
        if r.phases:
            lines += [f"### {r.stage}", "", "| part | seconds | share of the stage |", "|---|--:|--:|"]
            lines += [f"| {p.label[0].upper()}{p.label[1:]}{' (separate run)' if p.separate else ''} | "
                      f"{p.seconds:.2f} | {p.seconds / r.measurement.seconds:.0%} |" for p in r.phases]
            lines.append("")

    lines += ["## Where a target is missed", ""]
    missed = [r for r in results if r.missed]
    if not missed:
        lines += ["No target was missed.", ""]
    for r in missed:
        lines += [f"### {r.stage}", "", *[f"- {t.verdict()}" for t in r.missed], "", *r.why, ""]
    close = [r for r in results if r.close and not r.missed]
    if close:
        lines += [f"## Targets met by less than {CLOSE_MARGIN:.0%}", "",
                  "A repeat of the benchmark can land on either side of these.", ""]
    for r in close:
        lines += [f"### {r.stage}", "", *[f"- {t.verdict()}" for t in r.close], "", *r.why, ""]
    kept = [block[0] for block in KEPT_BLOCK.finditer(path.read_text())] if path.exists() else []
    # bench/summary.py's table stays where it opens the file: after the title's paragraph.
    lines[4:4] = [block + "\n" for block in kept if block.startswith("<!-- summary -->")]
    kept = [block for block in kept if not block.startswith("<!-- summary -->")]
    path.write_text("\n\n".join(["\n".join(lines).rstrip(), *kept]) + "\n")


def write_section(path: Path, name: str, body: str, top: bool = False) -> str:
    """Put ``body`` in BENCHMARKS.md between ``<!-- name -->`` and ``<!-- /name -->``, replacing the old one;
    at the end, or with ``top`` right after the title and the paragraph under it (bench/summary.py's table).

    bench/run.py rewrites the file and keeps these blocks (at its end); each other benchmark owns one.
    """
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    section = f"{begin}\n{body.strip()}\n{end}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text:
        text = (text[: text.index(begin)].rstrip() + "\n\n" + text[text.index(end) + len(end):].lstrip()).rstrip()
    intro_end = text.find("\n\n", text.find("\n\n") + 2)  # the blank line after the title's paragraph
    if top and intro_end > 0:
        path.write_text(text[:intro_end] + "\n\n" + section + "\n" + text[intro_end:].lstrip("\n").rstrip() + "\n")
    else:
        path.write_text(text.rstrip() + "\n\n" + section)
    return section


def _method(repeats: int, contention: str) -> str:
    """How to read the table."""
    runs = ("Every command ran once." if repeats == 1 else
            f"Every command ran {repeats} times; each row is the run with the median time (all its figures come "
            "from that one run), and range is the fastest and slowest of them. A stage and the diagnostic runs "
            "that explain it took turns, round after round, so that a drift in the machine's speed touched them "
            "alike.")
    return (
        f"{runs} Seconds are wall time from start to exit. Peak RSS is `ru_maxrss` from `os.wait4`: the largest "
        "single process of the stage's tree (Python or an ffmpeg it ran). Tree RSS is the sum over the whole "
        "tree, sampled every 50 ms, because Python and ffmpeg run side by side; the 1.5 GB limit is checked "
        "against the higher of the two. CPU is CPU time over wall time (2.00 = both cores busy throughout). "
        "Others is the CPU that the rest of the machine used meanwhile, in cores: where it is well above 0, other "
        f"work competed with the stage and its times are pessimistic. {contention}"
    )


def _table(results: list[Result], duration: float) -> list[str]:
    lines = [
        ("| stage | seconds | range s | x realtime | peak RSS MB | tree RSS MB | CPU | others | notes / target "
         "| pass/miss |"),
        "|---|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for r in results:
        m = r.measurement
        wanted = "; ".join(f"{t.label} {'≥' if t.higher_is_better else '≤'} {_fmt(t.limit, t.unit)}"
                           for t in r.targets)
        notes = f"{r.notes}. Target: {wanted}" if wanted else f"{r.notes}. No target"
        verdict = "<br>".join(t.verdict() for t in r.targets) or "n/a"
        spread = f"{m.repeats[0]:.2f}–{m.repeats[-1]:.2f}" if len(m.repeats) > 1 else "–"
        lines.append(f"| {r.stage} | {m.seconds:.2f} | {spread} | {duration / m.seconds:.2f} | {m.maxrss_mb:.0f} | "
                     f"{m.tree_rss_mb:.0f} | {m.cpu_share:.2f} | {m.others_share:.2f} | {notes} | {verdict} |")
    return lines
