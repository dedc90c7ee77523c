"""An EBU R128 meter for the tests and benchmarks of transcode's loudness normalisation.

It is ffmpeg's ebur128 filter run by the ffmpeg on PATH (Debian's), not the worker's build nor its
loudnorm: a second opinion on what the worker made.
"""

from __future__ import annotations

import math
import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUMMARY = re.compile(r"Integrated loudness:\s+I:\s+(?P<lufs>\S+) LUFS.*?LRA:\s+(?P<range>\S+) LU"
                     r".*?True peak:\s+Peak:\s+(?P<peak>\S+) dBFS", re.DOTALL)
FRAME = re.compile(r"^\[Parsed_ebur128.*?\bt:\s*(?P<t>\S+).*?\bS:\s*(?P<s>\S+)", re.MULTILINE)
WARM_UP_S = 3.0  # the short-term window's length: before it is full, its reading is not a loudness yet
BELOW_LU = 20.0  # short-term readings this far below the integrated loudness are pauses, not programme


@dataclass(frozen=True)
class Reading:
    lufs: float  # integrated; -70 for silence
    true_peak_dbtp: float
    range_lu: float
    short_term: list[tuple[float, float]]  # (time s, short-term loudness LUFS), every 0.1 s


def read(path: Path) -> Reading:
    """The first audio track's EBU R128 figures."""
    log = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-map", "0:a:0",
         "-af", "ebur128=peak=true:framelog=info", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr
    summary = SUMMARY.search(log[log.rindex("Summary:"):])
    if summary is None:
        raise ValueError(f"ebur128 printed no summary for {path}")
    frames = [(float(m["t"]), float(m["s"])) for m in FRAME.finditer(log)]
    return Reading(float(summary["lufs"]), float(summary["peak"]), float(summary["range"]), frames)


def gain_swing(source: Reading, output: Reading) -> float:
    """How much the gain between ``source`` and ``output`` moves, in LU: the standard deviation of their
    short-term loudness difference over the programme. 0 for one gain throughout; pumping makes it large."""
    heard = {round(t, 1): s for t, s in source.short_term}
    floor = source.lufs - BELOW_LU
    differences = [s - heard[round(t, 1)] for t, s in output.short_term
                   if t >= WARM_UP_S and heard.get(round(t, 1), -math.inf) >= floor]
    return statistics.pstdev(differences) if len(differences) > 1 else 0.0
