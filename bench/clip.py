"""The benchmark clip: synthetic 1280x720 30 fps video with English speech and a cat on screen.

Everything comes from tools and packages the project already installs (ffmpeg,
espeak-ng, scikit-image), so every machine benchmarks the same input without a
download. The clip is cached: regenerating it would add its encode to every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
from skimage import data

WIDTH, HEIGHT, FPS = 1280, 720, 30
VOICE, WORDS_PER_MINUTE = "en-us", 140
CRF = 20
CAT_ZOOM = 0.15  # the cat photo zooms in by this share over its part: every frame differs, like real footage

# Simple sentences that Whisper transcribes reliably from espeak-ng; about 55 s at 140 words per minute.
SPEECH = """Good morning, and welcome to the park. Today the weather is warm and the sky is clear. \
Many families walk along the river, and children play on the green grass.

A small black cat sits under the old tree. She watches the birds in the branches and waits. \
When a dog runs past, the cat does not move. She is calm, and she knows this place very well.

In the afternoon we visit the science museum. There is a large picture of an astronaut in an \
orange space suit. She stands next to a flag, and behind her we can see a rocket.

After the museum we buy bread, cheese and fresh fruit at the market. We sit on a bench, eat our \
lunch, and talk about the day. Then we walk home slowly, because tomorrow is another busy day."""


@dataclass(frozen=True)
class Clip:
    path: Path
    duration_s: float
    speech_s: float  # espeak-ng's speech before it is cut or padded to the clip's length
    words: int

    def describe(self) -> str:
        """The clip as ffprobe reads it, and how it was made."""
        info = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(self.path)],
            capture_output=True, text=True, check=True,
        ).stdout)
        v = next(s for s in info["streams"] if s["codec_type"] == "video")
        a = next(s for s in info["streams"] if s["codec_type"] == "audio")
        duration = float(info["format"]["duration"])
        third = self.duration_s / 3
        fitted = (f"{self.speech_s:.1f} s of speech padded with silence" if self.speech_s <= self.duration_s
                  else f"{self.speech_s:.1f} s of speech cut")
        return (
            f"{duration:g} s, {v['width']}x{v['height']} at {v['r_frame_rate'].removesuffix('/1')} fps, "
            f"{v['codec_name']} (x264 CRF {CRF}) + {a['codec_name']} {int(a['bit_rate']) / 1000:.0f} kb/s, "
            f"{a['channels']} channels at {int(a['sample_rate']) / 1000:g} kHz, in MP4 "
            f"({int(info['format']['size']) / 1e6:.1f} MB). Picture: 0-{third:.3g} s ffmpeg `testsrc2`; "
            f"{third:.3g}-{2 * third:.3g} s scikit-image's `chelsea()` cat photo with a slow {CAT_ZOOM:.0%} zoom; "
            f"{2 * third:.3g}-{self.duration_s:g} s scikit-image's `astronaut()`, still and pillarboxed. Sound: "
            f"espeak-ng (`-v {VOICE} -s {WORDS_PER_MINUTE}`) reading {self.words} words of simple English, "
            f"{fitted} to the clip's length."
        )


def ensure_clip(folder: Path, duration: float) -> Clip:
    """The cached clip of ``duration`` seconds, made first if missing.

    The name carries a hash of this file, so changing the recipe makes a new clip.
    """
    recipe = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:8]
    path = folder / f"clip-{duration:g}s-{recipe}.mp4"
    info_path = path.with_suffix(".json")
    if not (path.is_file() and info_path.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        speech_s = _make_clip(folder, path, duration)
        info_path.write_text(json.dumps({"speech_s": speech_s}))
    speech_s = json.loads(info_path.read_text())["speech_s"]
    return Clip(path, duration, speech_s, len(SPEECH.split()))


def _make_clip(folder: Path, path: Path, duration: float) -> float:
    """Encode the clip through a temporary name, so an interrupted run never leaves a bad cache."""
    photos = {}
    for name in ("chelsea", "astronaut"):
        photos[name] = folder / f"{name}.png"
        cv2.imwrite(str(photos[name]), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    speech = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(speech), SPEECH], check=True)
    speech_s = float(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(speech)],
        capture_output=True, text=True, check=True,
    ).stdout)

    part = duration / 3
    frames = round(part * FPS)
    size = f"{WIDTH}x{HEIGHT}"
    graph = ";".join([
        "[0:v]format=yuv420p[a]",
        # Upscale before zoompan: it crops whole pixels, so a small picture would judder.
        (f"[1:v]scale={2 * WIDTH}:{2 * HEIGHT}:force_original_aspect_ratio=increase,crop={2 * WIDTH}:{2 * HEIGHT},"
         f"zoompan=z='1+{CAT_ZOOM}*on/{frames}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d={frames}:s={size}:fps={FPS},"
         f"setsar=1,format=yuv420p[b]"),
        f"[2:v]scale=-2:{HEIGHT},pad={WIDTH}:{HEIGHT}:(ow-iw)/2:0,setsar=1,fps={FPS},format=yuv420p[c]",
        "[a][b][c]concat=n=3:v=1:a=0[v]",
        f"[3:a]aresample=48000,apad,atrim=0:{duration}[s]",
    ])
    tmp = path.with_name(f"tmp-{path.name}")
    subprocess.run([
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}:d={part}",
        "-i", photos["chelsea"],
        "-loop", "1", "-framerate", str(FPS), "-t", f"{part}", "-i", photos["astronaut"],
        "-i", speech,
        "-filter_complex", graph, "-map", "[v]", "-map", "[s]",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF), "-g", str(2 * FPS), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-t", f"{duration}", "-movflags", "+faststart", tmp,
    ], check=True)
    os.replace(tmp, path)
    return round(speech_s, 2)


def one_fps_copy(clip: Clip) -> Path:
    """The clip re-encoded at 1 fps without audio (cached): detect on it decodes only the frames it keeps."""
    return _derived(clip, "1fps", ["-vf", "fps=1", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF), "-an"])


def video_only_copy(clip: Clip) -> Path:
    """The clip's video stream copied without its audio (cached): what transcode costs without sound."""
    return _derived(clip, "video-only", ["-map", "0:v:0", "-c", "copy"])


def _derived(clip: Clip, suffix: str, options: list[str]) -> Path:
    path = clip.path.with_name(f"{clip.path.stem}-{suffix}.mp4")
    if not path.is_file():
        tmp = path.with_name(f"tmp-{path.name}")
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", clip.path,
                        *options, tmp], check=True)
        os.replace(tmp, path)
    return path
