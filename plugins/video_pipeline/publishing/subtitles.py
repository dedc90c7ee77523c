"""The subtitle tracks of a transcript, as the page offers them, and what each one says.

The speech's own track comes first, then its English translation if there is one. Their cues (times
and lines) are what the page's transcript shows and what search finds: the speech's from the
``cues.json`` that transcribe (or, after a review, captions) wrote as data, the translation's from
its WebVTT, the one form transcribe writes it in.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from video_contract.manifests import Cue, SubtitleFiles, TranscribeManifest, read_cues
from video_pipeline.publishing import objects, webvtt


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubtitleTrack:
    language: str
    name: str  # the language's name, as the player's menu shows it
    kind: Literal["transcript", "translation"]
    files: SubtitleFiles  # the track's WebVTT and SubRip files, by the names the transcript gives them
    from_: str | None = None  # a translation's source language

    def item(self, folder: str) -> dict[str, str]:
        """The track in the catalog item, its files by their keys under ``folder``."""
        source = {"from": self.from_} if self.from_ else {}
        return {"language": self.language, "name": self.name, "kind": self.kind, **source,
                "srt": folder + self.files.srt, "vtt": folder + self.files.vtt}


def tracks_of(transcript: TranscribeManifest | None) -> list[SubtitleTrack]:
    """The transcript's subtitle tracks: none without speech."""
    if not (transcript and transcript.speech):
        return []
    tracks = [SubtitleTrack(language=transcript.language or "und", name=transcript.language_name,
                            kind="transcript", files=transcript.subtitles)]
    if translation := transcript.translation:
        tracks.append(SubtitleTrack(language=translation.language, name=translation.name, kind="translation",
                                    files=translation.subtitles, from_=translation.from_))
    return tracks


def spoken(s3: Any, transcript: TranscribeManifest | None) -> dict[SubtitleTrack, list[Cue]]:
    """Each subtitle track of the transcript with its cues, in the tracks' order."""
    if transcript is None:
        return {}
    return {track: _cues(s3, transcript, track) for track in tracks_of(transcript)}


def _cues(s3: Any, transcript: TranscribeManifest, track: SubtitleTrack) -> list[Cue]:
    if track.kind == "translation":  # transcribe writes a translation as subtitle files only
        return webvtt.cues(objects.read_text(s3, transcript.uri(track.files.vtt)))
    return read_cues(json.loads(objects.read_text(s3, transcript.uri(transcript.cues_file))))
