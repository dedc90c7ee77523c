"""How the subtitles measure up to the timed-text norms, on real Whisper output.

Runs ``video-worker transcribe`` with both local Whisper models on the bench
clip's speech, at the clip's 140 words per minute and spoken fast (200), and
writes the transcribe manifests' count of cues breaking each norm
(video_worker.caption_norms) to its section of BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import local_models
from clip import SPEECH, VOICE, ensure_clip
from report import write_section

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "subtitle-norms"
FAST_WPM = 200
MODELS = ("tiny.en", "base")
NORMS = {
    "line_too_long": "line > 42",
    "too_many_lines": "> 2 lines",
    "orphan_line": "one-word line",
    "mid_phrase_line_break": "line break mid-phrase",
    "too_short": "< 5/6 s",
    "too_long": "> 7 s",
    "gap_too_small": "gap < 2 frames",
    "too_fast": "> 17 cps",
    "total": "total",
    "fast_speech": "> 17 cps, speech faster (allowed)",
}


def fast_clip() -> Path:
    """The bench clip's text read at FAST_WPM over a still picture, 25 fps."""
    path = OUT / f"speech-{FAST_WPM}wpm.mp4"
    if not path.exists():
        wav = OUT / f"speech-{FAST_WPM}wpm.wav"
        subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(FAST_WPM), "-w", str(wav), SPEECH], check=True)
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", "color=c=0x204060:s=640x360:r=25", "-i", str(wav), "-shortest",
                        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(path)], check=True)
    return path


def transcribe(source: Path, model: str) -> dict:
    dest = OUT / f"{source.stem}-{model}"
    shutil.rmtree(dest, ignore_errors=True)
    result = subprocess.run(["video-worker", "transcribe", "--source", str(source), "--dest", str(dest)],
                            env={**os.environ, **local_models.worker_env(model)},
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"transcribe {source.name} with {model} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    clips = {"bench clip, 140 words/min (30 fps)": ensure_clip(ROOT / "bench" / "out", 60.0).path,
             f"the same text at {FAST_WPM} words/min (25 fps)": fast_clip()}
    rows = ["| speech | model | cues | " + " | ".join(NORMS.values()) + " |",
            "|---|---|--:|" + "--:|" * len(NORMS)]
    for name, path in clips.items():
        for model in MODELS:
            m = transcribe(path, model)
            counts = m["norm_violations"]
            rows.append(f"| {name} | {model} | {m['cues']} | " + " | ".join(str(counts[k]) for k in NORMS) + " |")
            print(f"subtitle norms: {name} {model}: {counts}", file=sys.stderr)
    section = f"""
## Subtitle norms

`bench/subtitle_norms.py`: `video-worker transcribe` on the bench clip's speech (espeak-ng, {len(SPEECH.split())}
words), at its own pace and read fast, with each local Whisper model. Each column counts the cues that break one
norm of Netflix's timed-text style guide, as the transcribe manifest reports them (`norm_violations`): at most 2
lines of 42 characters, lines broken after punctuation or before a conjunction or preposition, no one-word line,
5/6 s to 7 s on screen, at least 2 frames between subtitles, at most 17 characters per second. A cue over 17 cps
that could not be slower without running into the next one's speech is counted apart: the guides allow it, and
the only other way is subtitles that drift behind the voice. The unit tests (tests/worker/test_subtitles.py)
and the transcribe tests on the test speech assert a total of 0.

{chr(10).join(rows)}
"""
    write_section(ROOT / "BENCHMARKS.md", "subtitle-norms", section)
    print("bench: wrote the subtitle norms section of BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
