"""Each stage's manifest: what it made and where, as the worker writes it and every reader reads it.

The worker writes ``manifest.json`` beside its outputs and prints the same object, with
``artifacts`` (each output's name and URI), as its last stdout line; that line is the task's
XCom. The envelope (stage, source, dest, seconds, cpu_seconds, artifacts) is the CLI's; the rest is the stage's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

from video_contract.records import ManifestError, Record, renamed
from video_contract.stages import Stage

MANIFEST = "manifest.json"  # every stage's manifest, beside its outputs
ENVELOPE = ("source", "dest", "seconds", "cpu_seconds", "artifacts")
TIMINGS = ("seconds", "cpu_seconds")  # how long a run took: the fields that differ between two runs of one input


@dataclasses.dataclass(frozen=True, kw_only=True)
class Manifest(Record):
    """A stage's manifest. The stage builds it without the envelope; the CLI fills that in."""

    STAGE: ClassVar[Stage]
    source: str = ""
    dest: str = ""
    seconds: float = 0.0
    # CPU time of the stage's process and the tools it ran (ffmpeg, ffprobe, the packager), user plus system:
    # what the stage costs, as wall time on a shared machine does not say.
    cpu_seconds: float = 0.0
    artifacts: dict[str, str] | None = None  # output name -> URI; None in manifest.json itself

    def to_json(self) -> dict[str, Any]:
        fields = super().to_json()
        body = {k: v for k, v in fields.items() if k not in ENVELOPE}
        head = {"stage": self.STAGE.value, "source": self.source, "dest": self.dest}
        tail = {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                **({"artifacts": self.artifacts} if self.artifacts is not None else {})}
        return {**head, **body, **tail}

    @classmethod
    def from_json(cls, data: object, *, path: str = "") -> Self:
        where = path or f"the {cls.STAGE} manifest"
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("stage") != cls.STAGE:
            raise ManifestError(f"{where}: \"stage\" is {data.get('stage')!r}, not {cls.STAGE.value!r}")
        return super().from_json({k: v for k, v in data.items() if k != "stage"}, path=where)

    def uri(self, name: str) -> str:
        """The URI of the output ``name``; ManifestError when the stage made no such file."""
        if self.artifacts is None or name not in self.artifacts:
            raise ManifestError(f"the {self.STAGE} manifest lists no artifact {name!r}")
        return self.artifacts[name]

    @property
    def manifest_uri(self) -> str:
        return self.uri(MANIFEST)


# probe

@dataclasses.dataclass(frozen=True, kw_only=True)
class ProbeManifest(Manifest):
    STAGE = Stage.PROBE
    METADATA: ClassVar[str] = "metadata.json"
    duration_s: float
    width: int
    height: int
    fps: float | None
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    metadata: dict[str, Any]  # ffprobe's facts as probe normalised them (metadata.json)


# transcode

@dataclasses.dataclass(frozen=True, kw_only=True)
class Rendition(Record):
    name: str
    file: str
    width: int
    height: int
    video_codec: str
    bit_rate: int | None
    size_bytes: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class Loudness(Record):
    """The audio's loudness (EBU R128) before and after transcode normalised it, once, for every rendition.

    ``input_*`` is the first pass's measurement of the source's audio (as stereo, as the renditions carry it);
    ``output_*`` the second pass's of what it made. ``method`` is how it got there: "linear" (one gain for the
    whole file, its dynamics untouched), "limited" (a gain, and a limiter on the peaks it pushes over the
    ceiling) or "dynamic" (loudnorm's gain riding, for a loudness range wider than it takes). Where it was not
    normalised (silence), ``skipped`` says why and ``method`` and ``output_*`` are None. A level of None is
    silence (minus infinity).
    """

    KIND = "loudness"
    target_lufs: float
    target_true_peak_dbtp: float
    target_range_lu: float  # the setting, or the source's range where that is wider: one gain keeps it
    input_lufs: float | None
    input_true_peak_dbtp: float | None
    input_range_lu: float
    input_threshold_lufs: float | None
    output_lufs: float | None
    output_true_peak_dbtp: float | None
    output_range_lu: float | None
    method: str | None  # "linear", "limited" or "dynamic"
    skipped: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class TranscodeManifest(Manifest):
    STAGE = Stage.TRANSCODE
    duration_s: float
    source_width: int
    source_height: int
    renditions: list[Rendition]  # largest first
    top: str  # the largest rendition's file
    clips: list[str]
    has_audio: bool
    keyframe_interval_s: float
    loudness: Loudness | None = None  # None: no audio, or normalisation off (VIDEO_WORKER_LOUDNESS_NORMALIZE)


# transcribe and captions

@dataclasses.dataclass(frozen=True, kw_only=True)
class SubtitleFiles(Record):
    srt: str
    vtt: str

    def of(self, fmt: str) -> str:
        return self.srt if fmt == "srt" else self.vtt


@dataclasses.dataclass(frozen=True, kw_only=True)
class Translation(Record):
    language: str
    name: str
    from_: str | None = renamed("from")  # the speech's language
    cues: int
    subtitles: SubtitleFiles
    norm_violations: dict[str, int]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TranscribeManifest(Manifest):
    STAGE = Stage.TRANSCRIBE
    speech: bool
    no_speech_reason: str | None
    language: str | None
    language_name: str
    language_probability: float | None
    engine: str
    model: str
    device: str | None
    duration_s: float
    fps: float | None
    segments: int
    words: int
    cues: int
    norm_violations: dict[str, int]
    transcript: str
    subtitles: SubtitleFiles
    cues_file: str  # the cues as data (Cue records): what a review edits and the page shows
    # How many voices speak (0 without speech; 1 leaves the cues unlabelled); None: speakers not labelled
    # (VIDEO_WORKER_SPEAKERS=false, or a transcript from before speaker labels).
    speakers: int | None = None
    translation: Translation | None
    translation_skipped: str | None  # why there is no translation although one was asked for

    def body_fields(self) -> dict[str, Any]:
        """The transcript's own fields, without the envelope: what the captions stage carries over."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TranscribeManifest)
                if f.name not in ENVELOPE}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptionEdits(Record):
    edited_cues: list[int]  # 0-based numbers of the cues whose text the reviewer changed
    cues: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaptionsManifest(TranscribeManifest):
    """The transcript after a caption review: transcribe's files, with the reviewer's text."""

    STAGE = Stage.CAPTIONS
    review: CaptionEdits


def read_transcript(data: object) -> TranscribeManifest:
    """A transcribe manifest, or a captions manifest (the reviewed transcript), by its stage."""
    if isinstance(data, dict) and data.get("stage") == Stage.CAPTIONS:
        return CaptionsManifest.from_json(data)
    return TranscribeManifest.from_json(data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cue(Record):
    """One subtitle of ``cues.json``: its times in seconds and its lines as shown."""

    KIND = "cue"
    start: float
    end: float
    lines: list[str]
    speaker: str | None = None  # "Speaker 1", ... where two or more voices speak


def read_cues(data: object) -> list[Cue]:
    if not isinstance(data, list):
        raise ManifestError(f"cues.json: expected a list of cues, got {type(data).__name__}")
    return [Cue.from_json(item, path=f"cues.json[{n}]") for n, item in enumerate(data)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReviewTexts(Record):
    """A reviewer's lines, one per cue, in order: the captions stage's ``--texts`` file."""

    KIND = "review texts"
    texts: list[str]


# detect

@dataclasses.dataclass(frozen=True, kw_only=True)
class Animal(Record):
    """One animal track: its label, its span and its best frame.

    ``label`` is a species only where the votes agree on one; otherwise it is UNSURE_ANIMAL and
    ``candidates`` are what it was read as, most voted first ("bird or cat?").
    """

    track: int
    label: str
    candidates: list[str]
    first_s: float
    last_s: float
    peak_s: float
    peak_confidence: float
    frames_seen: int
    second_looks: int  # the views of its clearest frames (flipped, shrunk) that saw it again
    votes: dict[str, float]  # each label's summed confidence over its frames and second looks
    thumbnail: str
    box: list[float]  # x1, y1, x2, y2 in the sampled frame's pixels


UNSURE_ANIMAL = "animal"  # an Animal's label when its votes do not agree on a species


@dataclasses.dataclass(frozen=True, kw_only=True)
class Span(Record):
    start_s: float
    end_s: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class DetectManifest(Manifest):
    STAGE = Stage.DETECT
    DETECTIONS: ClassVar[str] = "detections.json"  # every hit and track, for previews and the page
    frames_sampled: int
    appearances: int
    labels: list[str]
    animals: list[Animal]
    on_screen: list[Span]
    animal_seconds: float
    ms_per_frame: float | None
    device: str


# previews

@dataclasses.dataclass(frozen=True, kw_only=True)
class Poster(Record):
    file: str
    width: int
    height: int
    time_s: float
    score: float
    animal: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Gif(Record):
    file: str
    width: int
    height: int
    fps: float
    snippets: int
    starts_s: list[float]
    seconds: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Storyboard(Record):
    sprites: list[str]
    vtt: str  # a WebVTT thumbnails track over the sprites
    interval_s: float
    tiles: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class PreviewsManifest(Manifest):
    STAGE = Stage.PREVIEWS
    duration_s: float
    width: int
    height: int
    poster: Poster
    gifs: list[Gif]
    storyboard: Storyboard
    labelling: dict[str, Any]  # the labelling frames' prefix, index and counts (kept, dropped_*)
    sizes: dict[str, int]


# burn

@dataclasses.dataclass(frozen=True, kw_only=True)
class BurnManifest(Manifest):
    STAGE = Stage.BURN
    burned: str
    soft: str
    subtitles_burned: bool
    burned_language: str | None
    soft_languages: list[str]
    duration_s: float
    size_bytes: dict[str, int]


# chapters

@dataclasses.dataclass(frozen=True, kw_only=True)
class Chapter(Record):
    """One chapter: a run of whole shots, titled with its first words (``spoken``) or "Chapter N"."""

    start_s: float
    end_s: float
    title: str
    spoken: bool  # the title is the chapter's first words, not "Chapter N"
    shots: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChaptersManifest(Manifest):
    STAGE = Stage.CHAPTERS
    VTT: ClassVar[str] = "chapters.vtt"  # a WebVTT chapters track: one cue per chapter, its title the text
    duration_s: float
    cuts: list[float]  # where each shot but the first starts, in seconds
    shot_threshold: float  # the scene-change score (scdet, 0-100) a cut passed
    chapters: list[Chapter]
    vtt: str


# package

@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamRendition(Record):
    name: str
    width: int
    height: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamSubtitles(Record):
    language: str
    name: str
    playlist: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PackageManifest(Manifest):
    STAGE = Stage.PACKAGE
    hls: str
    dash: str
    renditions: list[StreamRendition]
    audio: bool
    subtitles: list[StreamSubtitles]
    segment_seconds: float
    encrypted: bool
    key_id: str | None
    size_bytes: int
    ladder_bytes: int
    size_overhead: float | None


MANIFESTS: dict[Stage, type[Manifest]] = {
    m.STAGE: m for m in (ProbeManifest, TranscodeManifest, TranscribeManifest, CaptionsManifest, DetectManifest,
                         PreviewsManifest, BurnManifest, ChaptersManifest, PackageManifest)
}


def read_manifest(data: object) -> Manifest:
    """Any stage's manifest, by its ``stage``."""
    stage = data.get("stage") if isinstance(data, dict) else None
    if stage not in MANIFESTS:
        raise ManifestError(f"not a stage manifest: \"stage\" is {stage!r}, not one of {', '.join(Stage)}")
    return MANIFESTS[Stage(stage)].from_json(data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunManifests:
    """What a run's stages made, as publish sees it: a stage that was off or skipped is None.

    ``transcript`` is the one the later stages used: the reviewed captions where there was a
    review that changed them, else transcribe's.
    """

    probe: ProbeManifest
    transcode: TranscodeManifest
    transcript: TranscribeManifest | None = None
    detect: DetectManifest | None = None
    previews: PreviewsManifest | None = None
    burn: BurnManifest | None = None
    package: PackageManifest | None = None
    chapters: ChaptersManifest | None = None

    @property
    def encrypted(self) -> bool:
        return bool(self.package and self.package.encrypted)
