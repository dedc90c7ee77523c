"""The demo's video: the bench clip's three shots with a conversation of two voices.

One ``make demo`` run then shows what a run makes of real-looking input: chapters at the
cuts (a test pattern, the cat, the astronaut), the cat on the animal timeline, and two
speakers in the transcript and the subtitles (footage.conversation's espeak-ng voices).
The picture is the bench clip's, copied; only the sound is new. Cached like the bench clip.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import footage
from clip import ensure_clip

SECONDS = 20
VOICES = footage.VOICES[:2]  # two voices that the speaker labelling tells apart (BENCHMARKS.md, Speakers)
TURNS = 5  # about 17 s of conversation at footage.conversation's pace: all of it inside the 20 s


def ensure_demo_clip(folder: Path) -> Path:
    """The cached demo clip, made first if missing; its name changes with this recipe and footage.py's."""
    recipe = hashlib.sha1(Path(__file__).read_bytes() + Path(footage.__file__).read_bytes()).hexdigest()[:8]
    path = folder / f"demo-{SECONDS}s-{recipe}.mp4"
    if path.is_file():
        return path
    picture = ensure_clip(folder, SECONDS).path
    speech = folder / "demo-conversation.wav"
    footage.conversation(speech, VOICES, TURNS)
    tmp = path.with_name(f"tmp-{path.name}")
    subprocess.run([
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", picture, "-i", speech,
        "-filter_complex", f"[1:a]aresample=48000,apad,atrim=0:{SECONDS}[s]", "-map", "0:v:0", "-map", "[s]",
        "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-t", str(SECONDS), "-movflags", "+faststart", tmp,
    ], check=True)
    os.replace(tmp, path)
    speech.unlink()
    return path
