"""The worker's stages: one name each, used by the CLI, the DAG's task ids and the work prefix."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """A stage of ``video-worker``, in the order a run reaches them."""

    PROBE = "probe"
    TRANSCODE = "transcode"
    TRANSCRIBE = "transcribe"
    CAPTIONS = "captions"
    DETECT = "detect"
    PREVIEWS = "previews"
    BURN = "burn"
    CHAPTERS = "chapters"
    PACKAGE = "package"


# What each stage does, in a line: the CLI's help and the docs' stage table.
SUMMARIES: dict[Stage, str] = {
    Stage.PROBE: "read metadata and reject inputs that can never work",
    Stage.TRANSCODE: "web MP4 downscale ladder, decoded once; optional clips",
    Stage.TRANSCRIBE: "speech to text with Whisper into transcript.json, .srt and .vtt",
    Stage.CAPTIONS: "the transcript's subtitles with a reviewer's text (caption review)",
    Stage.DETECT: "find animals with YOLO on sampled frames",
    Stage.PREVIEWS: "poster, animated GIFs, storyboard and frames for labelling",
    Stage.BURN: "burn subtitles into the video, plus a soft-subtitle variant",
    Stage.CHAPTERS: "cut the video into shots and group them into titled chapters (WebVTT)",
    Stage.PACKAGE: "HLS and MPEG-DASH (CMAF) from the ladder, optionally ClearKey-encrypted",
}
