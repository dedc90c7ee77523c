"""Each stage's worker invocation, planned from the run's options, its registration and the upstream manifests.

Pure functions: no Airflow, no S3. A stage operator calls ``plan`` once its XComs are rendered; None means
the stage has nothing to do in this run (switched off, no speech, no review answer with text) and the task
skips. Stages that read the upload pin the version register saw (its ETag); stages that read this run's
own artifacts need no pin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from video_contract.manifests import (
    CaptionsManifest,
    DetectManifest,
    Manifest,
    ProbeManifest,
    TranscodeManifest,
    TranscribeManifest,
)
from video_contract.stages import Stage
from video_pipeline.registration import Registration

M = TypeVar("M", bound=Manifest)
UNDETERMINED_LANGUAGE = "und"  # ISO 639-2 for a transcript whose language was not detected


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
    """A run's params as the stages use them; a param left empty (null) takes the default here.

    The switches' defaults are the DAG's param defaults too; ``review``'s is the deployment's (REVIEW).
    The other options left None keep the worker's own defaults (VIDEO_WORKER_*).
    """

    force: bool = False
    transcribe: bool = True
    translate: bool = True
    review: bool = False
    detect: bool = True
    previews: bool = True
    burn: bool = True
    chapters: bool = True
    package: bool = True
    encrypt: bool = False
    ladder: str | None = None
    whisper_model: str | None = None
    language: str | None = None
    detect_model: str | None = None
    detect_classes: str | None = None
    detect_fps: float | None = None

    SWITCHES: ClassVar[tuple[str, ...]] = ("force", "transcribe", "translate", "review", "detect", "previews", "burn",
                                           "chapters", "package", "encrypt")

    @classmethod
    def from_params(cls, params: Mapping[str, object], defaults: RunOptions) -> RunOptions:
        """The options of a run: its params over ``defaults``; params that are no option are left out."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            value = params.get(field.name)
            if value is None or value == "":
                continue
            values[field.name] = bool(value) if field.name in cls.SWITCHES else value
        return dataclasses.replace(defaults, **values)


@dataclasses.dataclass(frozen=True)
class Invocation:
    """One worker call: ``video-worker STAGE --source SOURCE [--source-etag ETAG] --dest DEST ARGS...``."""

    source: str
    source_etag: str | None  # the upload's version to read; None for this run's own artifacts
    args: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inputs:
    """What a stage plans from: the options, the registration, and the manifests of the stages before it
    (None where that stage was off or skipped), and the review's text file for the captions stage."""

    options: RunOptions
    video: Registration
    probe: ProbeManifest | None = None
    transcode: TranscodeManifest | None = None
    transcribe: TranscribeManifest | None = None
    captions: CaptionsManifest | None = None
    detect: DetectManifest | None = None
    review_texts: str | None = None  # the reviewer's lines (review.put_texts); None: nothing edited or no review

    @classmethod
    def of(cls, options: RunOptions, video: Registration, manifests: Iterable[Manifest],
           review_texts: str | None = None) -> Inputs:
        found = list(manifests)
        return cls(options=options, video=video, probe=_find(found, ProbeManifest),
                   transcode=_find(found, TranscodeManifest), transcribe=_find(found, TranscribeManifest),
                   captions=_find(found, CaptionsManifest), detect=_find(found, DetectManifest),
                   review_texts=review_texts)

    @property
    def transcript(self) -> TranscribeManifest | None:
        """The transcript the later stages use: the reviewed captions when there was a review, else transcribe's."""
        return self.captions or self.transcribe

    def upload(self, args: list[str]) -> Invocation:
        """A stage that reads the uploaded video, pinned to the version register saw."""
        return Invocation(self.video.source, self.video.etag, args)


def _find(manifests: list[Manifest], kind: type[M]) -> M | None:
    # Exactly that type: a captions manifest is a transcribe manifest too.
    return next((m for m in manifests if type(m) is kind), None)


def options_args(**values: object) -> list[str]:
    """CLI options for the values that were given; the rest keep the worker's defaults."""
    return [arg for name, value in values.items() if value not in (None, "") for arg in (f"--{name}", str(value))]


def subtitle_track_args(transcript: TranscribeManifest, fmt: str) -> list[str]:
    """``--subtitles LANG=URI`` for the transcript's subtitle track in ``fmt`` (srt, vtt), then for its
    English translation's if there is one."""
    tracks = [(transcript.language or UNDETERMINED_LANGUAGE, transcript.subtitles.of(fmt))]
    if translation := transcript.translation:
        tracks.append((translation.language, translation.subtitles.of(fmt)))
    return [arg for language, name in tracks for arg in ("--subtitles", f"{language}={transcript.uri(name)}")]


def probe(inputs: Inputs) -> Invocation:
    return inputs.upload([])


def transcode(inputs: Inputs) -> Invocation:
    return inputs.upload(options_args(ladder=inputs.options.ladder))


def transcribe(inputs: Inputs) -> Invocation | None:
    options = inputs.options
    if not options.transcribe:
        return None
    return inputs.upload([*options_args(model=options.whisper_model, language=options.language),
                          "--translate" if options.translate else "--no-translate"])


def detect(inputs: Inputs) -> Invocation | None:
    options = inputs.options
    if not options.detect:
        return None
    return inputs.upload(options_args(model=options.detect_model, classes=options.detect_classes,
                                      fps=options.detect_fps))


def previews(inputs: Inputs) -> Invocation | None:
    """With detect's findings when it ran: the poster prefers a frame with an animal it followed."""
    if not inputs.options.previews:
        return None
    found = ["--detections", inputs.detect.uri(DetectManifest.DETECTIONS)] if inputs.detect else []
    return inputs.upload(found)


def captions(inputs: Inputs) -> Invocation | None:
    """The reviewer's lines over transcribe's cues; without a review answer that carries text, nothing to do."""
    if inputs.transcribe is None or inputs.review_texts is None:
        return None
    return Invocation(inputs.transcribe.manifest_uri, None, ["--texts", inputs.review_texts])


def burn(inputs: Inputs) -> Invocation | None:
    """The top rendition with the transcript's subtitles burned in (a translation goes on the soft variant);
    nothing to burn without speech."""
    transcript = inputs.transcript
    if not inputs.options.burn or transcript is None or not transcript.speech:
        return None
    ladder = _required(inputs.transcode, Stage.BURN, Stage.TRANSCODE)
    return Invocation(ladder.uri(ladder.top), None, subtitle_track_args(transcript, "srt"))


def chapters(inputs: Inputs) -> Invocation | None:
    """Shots of the ladder's smallest rendition (decoding is the cost; a cut shows at any size), grouped
    at the final transcript's pauses and titled with its words when there is speech. An encrypted video
    publishes its stream alone (site_files.shown): nothing to do."""
    if not inputs.options.chapters or inputs.options.encrypt:
        return None
    ladder = _required(inputs.transcode, Stage.CHAPTERS, Stage.TRANSCODE)
    transcript = inputs.transcript
    cues = ["--cues", transcript.uri(transcript.cues_file)] if transcript is not None and transcript.speech else []
    return Invocation(ladder.uri(ladder.renditions[-1].file), None, cues)


def package(inputs: Inputs) -> Invocation | None:
    """The ladder as HLS and DASH with the transcript's subtitle tracks, or encrypted with the video's key.

    An encrypted stream gets no subtitle track: the packager writes text tracks in the clear.
    """
    options = inputs.options
    if not options.package:
        return None
    ladder = _required(inputs.transcode, Stage.PACKAGE, Stage.TRANSCODE)
    transcript = inputs.transcript
    if options.encrypt:
        if inputs.video.key_uri is None:
            raise ValueError("package: an encrypted run needs the video's key, and register made none")
        return Invocation(ladder.manifest_uri, None, ["--key", inputs.video.key_uri])
    tracks = subtitle_track_args(transcript, "vtt") if transcript is not None and transcript.speech else []
    return Invocation(ladder.manifest_uri, None, tracks)


def _required(manifest: M | None, stage: Stage, upstream: Stage) -> M:
    if manifest is None:
        raise ValueError(f"{stage}: the {upstream} manifest is missing")
    return manifest


PLANS: dict[Stage, Callable[[Inputs], Invocation | None]] = {
    Stage.PROBE: probe, Stage.TRANSCODE: transcode, Stage.TRANSCRIBE: transcribe, Stage.DETECT: detect,
    Stage.PREVIEWS: previews, Stage.CAPTIONS: captions, Stage.BURN: burn, Stage.CHAPTERS: chapters,
    Stage.PACKAGE: package,
}


def plan(stage: Stage, inputs: Inputs) -> Invocation | None:
    """The stage's invocation in this run, or None: the stage has nothing to do."""
    return PLANS[stage](inputs)
