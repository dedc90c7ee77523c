"""Speaker labels: the diarization error rate on conversations with known turns, and what labelling costs.

Conversations are espeak-ng voices that differ, taking turns with known times (scripts/footage.py's
``conversation``); the one-voice clips must stay one speaker. Each goes through the real ``video-worker
transcribe`` (Whisper base); its words' speakers are scored against the turns with pyannote.metrics'
diarization error rate (missed speech + false alarm + confusion, over the reference speech; the best
mapping of found speakers to true ones; a collar of 0.25 s each side of a turn boundary, as NIST's
md-eval). The same words are labelled again in-process at other clustering distances, for the choice of
``SAME_SPEAKER_DISTANCE``. The CPU that labelling adds to transcribe is measured on the 20 s bench clip
(bench/clip.py), speakers on and off, alternating. No package installed here ships a real recording of
several speakers, so none is measured. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import footage
import local_models
from clip import ensure_clip
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate
from report import machine, write_section

from video_worker import speakers
from video_worker.speaker_clusters import SAME_SPEAKER_DISTANCE
from video_worker.subtitles import Word

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "speakers"
COLLAR_S = 0.5  # pyannote's collar is the whole width: 0.25 s each side of a boundary
TURN_GAP_S = 1.0  # found words of one speaker less than this apart are one stretch of that speaker's speech
DISTANCES = (0.20, SAME_SPEAKER_DISTANCE, 0.30)
CPU_RUNS = 3  # each way, alternating
# name -> (voices, turns)
CONVERSATIONS: dict[str, tuple[tuple[str, ...], int]] = {
    "two voices: en-us, en+f3": (("en-us", "en+f3"), 8),
    "two voices: en+f3, en-us+klatt4": (("en+f3", "en-us+klatt4"), 8),
    "three voices: en-us, en+f3, en-us+klatt4": (footage.VOICES, 9),
    "one voice: en-us": (("en-us",), 8),
    "one voice: en+f3": (("en+f3",), 8),
    "one voice: en-us+klatt4": (("en-us+klatt4",), 8),
    "two voices this model hears as one: en-us, en-gb+m3": (("en-us", "en-gb+m3"), 8),
}


def worker_env() -> dict[str, str]:
    return {**os.environ, "VIDEO_WORKER_WHISPER_MODEL": str(local_models.whisper_base()), "HF_HUB_OFFLINE": "1"}


def transcribe(source: Path, dest: Path, *args: str) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["video-worker", "transcribe", "--source", str(source), "--dest", str(dest), *args],
                            capture_output=True, text=True, env=worker_env(), check=False)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    manifest: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return manifest


def words_of(transcript: dict[str, Any]) -> list[Word]:
    return [Word(w["start"], w["end"], w["word"].strip(), w.get("speaker"))
            for seg in transcript["segments"] for w in seg["words"]]


def score(truth: list[footage.Turn], words: list[Word]) -> dict[str, float]:
    """pyannote's DER and its parts, as shares of the reference speech."""
    reference, found = Annotation(), Annotation()
    for n, turn in enumerate(truth):
        reference[Segment(turn.start, turn.end), n] = f"voice {turn.speaker}"
    stretch: list[Word] = []
    for word in [*words, None]:
        if stretch and (word is None or word.speaker != stretch[-1].speaker
                        or word.start - stretch[-1].end >= TURN_GAP_S):
            found[Segment(stretch[0].start, stretch[-1].end), len(found)] = stretch[0].speaker or "Speaker 1"
            stretch = []
        if word is not None:
            stretch.append(word)
    parts = DiarizationErrorRate(collar=COLLAR_S, skip_overlap=True)(reference, found, detailed=True,
                                                                         uem=reference.get_timeline().extent())
    total = parts["total"]
    return {"der": parts["diarization error rate"], "missed": parts["missed detection"] / total,
            "false_alarm": parts["false alarm"] / total, "confusion": parts["confusion"] / total}


def conversations() -> list[dict[str, Any]]:
    rows = []
    for name, (voices, turns) in CONVERSATIONS.items():
        folder = OUT / name.split(":")[0].replace(" ", "-") / "-".join(v.replace("+", "") for v in voices)
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / "conversation.wav"
        truth = footage.conversation(wav, voices, turns)
        clip = folder / "conversation.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=navy:s=320x180:r=10",
                        "-i", str(wav), "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                        str(clip)], check=True)
        manifest = transcribe(clip, folder / "transcribe")
        words = words_of(json.loads((folder / "transcribe" / "transcript.json").read_text()))
        audio = folder / "audio.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-ac", "1", "-ar", "16000",
                        str(audio)], check=True)
        grid = {}
        for distance in DISTANCES:
            relabelled, count = speakers.label(audio, [Word(w.start, w.end, w.text) for w in words],
                                               device="cpu", distance=distance)
            grid[distance] = (count, score(truth, relabelled)["der"])
        rows.append({"name": name, "true": len(set(voices)), "turns": turns, "seconds": truth[-1].end,
                     "found": manifest["speakers"], "cues": manifest["cues"], **score(truth, words), "grid": grid})
        print(rows[-1], flush=True)
    return rows


def cpu_cost() -> dict[str, Any]:
    """transcribe's cpu_seconds on the 20 s bench clip with speakers on and off, and the speakers found."""
    clip = ensure_clip(ROOT / "bench" / "out" / "clips", 20)
    runs: dict[str, list[float]] = {"on": [], "off": []}
    found = None
    for n in range(CPU_RUNS):
        for way in ("on", "off"):
            flag = "--speakers" if way == "on" else "--no-speakers"
            manifest = transcribe(clip.path, OUT / "bench-clip" / f"{way}-{n}", flag)
            runs[way].append(manifest["cpu_seconds"])
            found = manifest["speakers"] if way == "on" else found
    return {"on": statistics.median(runs["on"]), "off": statistics.median(runs["off"]), "runs": runs,
            "found": found, "clip": clip.path.name, "load": statistics.median(load_cpu() for _ in range(CPU_RUNS))}


def load_cpu() -> float:
    """CPU seconds of a process that imports Resemblyzer (torch, librosa) and loads its encoder, and no more."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-W", "ignore", "-c",
                    "from resemblyzer import VoiceEncoder; VoiceEncoder('cpu', verbose=False)"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def section(rows: list[dict[str, Any]], cost: dict[str, Any]) -> str:
    facts = machine()
    lines = [
        "## Speakers",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {facts['CPU']} ({facts['Cores']}), a machine shared with "
        "other work, by `bench/speakers.py`. Conversations of espeak-ng voices taking turns (8 or 9 turns of "
        "one or two sentences, 0.6 s apart, "
        f"{min(r['seconds'] for r in rows):.0f} to {max(r['seconds'] for r in rows):.0f} s), each through the "
        "real `video-worker transcribe` (Whisper base, speakers on). Diarization error rate (pyannote.metrics: "
        "missed speech + false alarm + confusion over the reference speech, the best mapping of found to true "
        "speakers, 0.25 s collar each side of a turn boundary); the found speech is each speaker's words, "
        f"words under {TURN_GAP_S:g} s apart joined. The missed share is mostly the gaps between words and "
        "Whisper's word times; confusion is speech given to the wrong speaker. No package installed here ships "
        "a real recording of several speakers, so these are synthetic voices only.",
        "",
        "| conversation | speakers (true / found) | DER | missed | false alarm | confusion |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['true']} / {r['found']} | {r['der']:.1%} | {r['missed']:.1%} | "
                     f"{r['false_alarm']:.1%} | {r['confusion']:.1%} |")
    lines += [
        "",
        "The clustering distance (`SAME_SPEAKER_DISTANCE`, speaker_clusters.py), the same words labelled "
        "again in-process at each: speakers found and DER.",
        "",
        "| conversation | " + " | ".join(f"{d:.2f}" + (" (chosen)" if d == SAME_SPEAKER_DISTANCE else "")
                                         for d in DISTANCES) + " |",
        "| --- |" + " --- |" * len(DISTANCES),
    ]
    for r in rows:
        lines.append(f"| {r['name']} ({r['true']}) | "
                     + " | ".join(f"{r['grid'][d][0]}, {r['grid'][d][1]:.1%}" for d in DISTANCES) + " |")
    added = cost["on"] - cost["off"]
    lines += [
        "",
        f"What labelling costs: transcribe's `cpu_seconds` on the 20 s bench clip (`{cost['clip']}`, one voice; "
        f"Whisper base), median of {CPU_RUNS} runs each way, alternating: {cost['off']:.1f} s without speakers, "
        f"{cost['on']:.1f} s with ({added:+.1f} s, {added / cost['off']:+.0%}), of which {cost['load']:.1f} s is "
        "importing Resemblyzer (torch, librosa) and loading its encoder (a process that does only that, median "
        f"of {CPU_RUNS}); the rest is the embeddings. Runs: on {cost['runs']['on']}, off {cost['runs']['off']}. "
        f"Speakers found on it: {cost['found']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    rows = conversations()
    cost = cpu_cost()
    print(write_section(ROOT / "BENCHMARKS.md", "speakers", section(rows, cost)))


if __name__ == "__main__":
    main()
