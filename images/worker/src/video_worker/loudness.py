"""loudness: the ladder's audio brought to a loudness target (EBU R128) in two passes, measured then applied once.

Pass one measures the source's audio alone (ffmpeg's ebur128 meter; the picture is not decoded). Pass two is a
filter on the audio output of transcode's one ladder command: the audio is normalised once, and every
rendition, the clips, the burned video and the streams (which copy it) carry the same. It is one gain for the
whole file wherever it can be, which leaves the dynamics as they were (no pumping):

- ``linear``: ffmpeg's loudnorm, given pass one's figures, applies the gain; the peaks stay under the ceiling.
- ``limited``: the gain would push peaks over the ceiling (speech's plosives, a drum hit, a click): the same
  gain and a limiter that shaves those peaks alone. Pass one tries it on the audio first and raises the gain
  by the loudness the shaved peaks took with them, so that it lands on the target. loudnorm's dynamic mode,
  which rides the gain, falls 3-10 LU short of the target on such sources and costs more CPU
  (BENCHMARKS.md, Loudness normalisation).
- ``dynamic``: loudnorm's own choice where the source's loudness range is wider than it takes (20 LU).

Silence is left as it is: there is no loudness to bring anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

from video_contract.manifests import Loudness
from video_worker import ffmpeg

# The renditions' audio is stereo, so its loudness is measured as stereo: a 5.1 or mono source's differs.
STEREO = "aformat=channel_layouts=stereo"
METER = "ebur128=peak=true"  # integrated loudness, its gate, loudness range and true peak, in the log
# BS.1770's absolute gate: a source with nothing louder has no integrated loudness; ebur128 then reads -70.
SILENCE_LUFS = -70.0
# loudnorm goes linear only where the source's loudness range is within its target: the setting is widened
# to the source's, up to the widest that loudnorm takes in ffmpeg 5.1 (VIDEO_WORKER_FFMPEG may name it).
MAX_RANGE_LU = 20.0
# loudnorm reads a measured range of 0 as "not measured" and then never goes linear; a steady tone measures 0.
LEAST_RANGE_LU = 0.1
# loudnorm takes a measured integrated loudness up to 0 LUFS; a source above it (a full-scale square wave
# in stereo reads +2.3) is turned down by whole decibels before loudnorm, and its measurements with it.
MAX_MEASURED_LUFS = 0.0
# The AAC encode after the filter adds peaks of its own (1.7 dB on plucked chords at 128 kb/s; AES TD1004 asks
# for 1-2 dB under the ceiling before a lossy encode): the filter aims this far under the target's ceiling.
# It also covers the peaks between samples that the (sample-peak) limiter does not see.
CODEC_HEADROOM_DB = 1.0
LEAST_CEILING_DBTP = -9.0  # the lowest true peak loudnorm takes
CORRECTIONS = 4  # tries of a gain before the limiter, each on the audio alone
CLOSE_LU = 0.5  # a try this close to the target is the gain
# The limiter: 5 ms look-ahead, 50 ms release (alimiter's defaults), its delay compensated.
LIMITER = "alimiter=limit={limit:.4f}:attack=5:release=50:level=false:latency=true"
DEFAULT_RATE_HZ = 48000  # loudnorm's output is resampled back to the source's rate, or this one
SUMMARY = re.compile(
    r"Integrated loudness:\s+I:\s+(?P<lufs>\S+) LUFS\s+Threshold:\s+(?P<threshold>\S+) LUFS\s+"
    r"Loudness range:\s+LRA:\s+(?P<range>\S+) LU.*?True peak:\s+Peak:\s+(?P<peak>\S+) dBFS",
    re.DOTALL,
)
STATS = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}")


class LoudnessError(RuntimeError):
    """ffmpeg ran but its log holds no measurement: a meter that did not report."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    lufs: float
    true_peak_dbtp: float
    range_lu: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Measured:
    """EBU R128 figures of stereo audio; minus infinity for silence."""

    lufs: float
    true_peak_dbtp: float
    range_lu: float
    threshold_lufs: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What pass two does: ``audio_filter`` on the ladder's audio, or None (``skipped`` says why)."""

    target: Target  # the range widened to the source's
    measured: Measured
    audio_filter: str | None
    output: Measured | None  # what ``audio_filter`` makes, where pass one tried it (limited)
    skipped: str | None

    def result(self, log: str | None) -> Loudness:
        """The manifest's record, from the log of the ladder command that ran ``audio_filter`` (None: skipped)."""
        out = self._output(log) if log is not None and self.audio_filter else None
        return Loudness(
            target_lufs=self.target.lufs,
            target_true_peak_dbtp=self.target.true_peak_dbtp,
            target_range_lu=self.target.range_lu,
            input_lufs=_level(self.measured.lufs),
            input_true_peak_dbtp=_level(self.measured.true_peak_dbtp),
            input_range_lu=self.measured.range_lu,
            input_threshold_lufs=_level(self.measured.threshold_lufs),
            output_lufs=_level(out[0].lufs) if out else None,
            output_true_peak_dbtp=_level(out[0].true_peak_dbtp) if out else None,
            output_range_lu=out[0].range_lu if out else None,
            method=out[1] if out else None,
            skipped=None if out else self.skipped,
        )

    def _output(self, log: str) -> tuple[Measured, str]:
        """What the filter made, and how: the meter after the limiter, or loudnorm's own report."""
        if self.output is not None:
            return self.output, "limited"
        reports = STATS.findall(log)
        if not reports:
            raise LoudnessError("loudnorm printed no report")
        report = json.loads(reports[-1])
        made = Measured(lufs=float(report["output_i"]), true_peak_dbtp=float(report["output_tp"]),
                        range_lu=float(report["output_lra"]), threshold_lufs=float(report["output_thresh"]))
        return made, str(report["normalization_type"])


def plan(source: Path, target: Target, *, sample_rate: int | None) -> Plan:
    """Pass one: measure the source's first audio track, and work out pass two's filter.

    Where the limiter is wanted, the gain and the limiter are tried on the audio alone first: the peaks it
    shaves took their share of the loudness with them, which the gain then makes up (CORRECTIONS tries).
    """
    measured = measure(source)
    if not measured.lufs > SILENCE_LUFS:
        return Plan(target=target, measured=measured, audio_filter=None, output=None,
                    skipped=f"silence: no part of the audio is above the {SILENCE_LUFS:g} LUFS gate")
    widened = dataclasses.replace(target, range_lu=round(min(max(target.range_lu, measured.range_lu),
                                                             MAX_RANGE_LU), 1))
    ceiling = filter_ceiling(widened)
    gain = widened.lufs - measured.lufs
    if measured.true_peak_dbtp + gain > ceiling:
        return _limited(source, measured, widened, gain, ceiling)
    return Plan(target=widened, measured=measured, output=None, skipped=None,
                audio_filter=loudnorm(measured, widened, ceiling, sample_rate=sample_rate))


def loudnorm(measured: Measured, target: Target, ceiling: float, *, sample_rate: int | None) -> str:
    """ffmpeg's loudnorm given pass one's figures: linear where they allow it, else its dynamic mode."""
    shift = max(0, math.ceil(measured.lufs - MAX_MEASURED_LUFS))
    down = [f"volume=-{shift}dB"] if shift else []
    given = (f"loudnorm=I={target.lufs}:TP={ceiling}:LRA={target.range_lu}"
             f":measured_I={measured.lufs - shift}:measured_TP={measured.true_peak_dbtp - shift}"
             f":measured_LRA={max(measured.range_lu, LEAST_RANGE_LU)}"
             f":measured_thresh={measured.threshold_lufs - shift}:linear=true:print_format=json")
    return ",".join([STEREO, *down, given, f"aresample={sample_rate or DEFAULT_RATE_HZ}"])


def _limited(source: Path, measured: Measured, target: Target, gain: float, ceiling: float) -> Plan:
    """The gain and the limiter, tried on the audio alone, the gain raised by what the shaved peaks took."""
    limiter = LIMITER.format(limit=10 ** (ceiling / 20))
    tried: list[tuple[str, Measured]] = []  # (chain, what it made)
    while len(tried) < CORRECTIONS:
        chain = f"{STEREO},volume={gain:.2f}dB,{limiter}"
        tried.append((chain, measure(source, chain)))
        miss = target.lufs - tried[-1][1].lufs
        if abs(miss) <= CLOSE_LU:
            break
        gain += miss  # the limiter then shaves the peaks more, which are too short to be loud
    chain, made = min(tried, key=lambda t: abs(t[1].lufs - target.lufs))
    return Plan(target=target, measured=measured, audio_filter=chain, output=made, skipped=None)


def filter_ceiling(target: Target) -> float:
    """The true peak the filter aims under: the target's, less the AAC encoder's headroom."""
    return max(target.true_peak_dbtp - CODEC_HEADROOM_DB, LEAST_CEILING_DBTP)


def measure(source: Path, chain: str = STEREO) -> Measured:
    """The EBU R128 figures of ``source``'s first audio track through ``chain`` (as stereo)."""
    return read(ffmpeg.run_for_log(["-i", source, "-map", "0:a:0", "-af", f"{chain},{METER}", "-f", "null", "-"]))


def read(log: str) -> Measured:
    """The figures that ebur128 printed in an ffmpeg log, silence as minus infinity."""
    found = SUMMARY.search(log)
    if found is None:
        raise LoudnessError("ebur128 printed no summary")
    lufs, threshold = float(found["lufs"]), float(found["threshold"])
    if lufs <= SILENCE_LUFS:  # ebur128 reads silence as -70 LUFS under a gate of 0
        lufs = threshold = -math.inf
    return Measured(lufs=lufs, true_peak_dbtp=float(found["peak"]), range_lu=float(found["range"]),
                    threshold_lufs=threshold)


def _level(value: float) -> float | None:
    """A level for JSON: None for silence's minus infinity."""
    return value if math.isfinite(value) else None
