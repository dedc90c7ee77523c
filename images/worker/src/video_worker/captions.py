"""captions: the transcript's subtitles with a reviewer's text, for runs with caption review.

``--source`` is the transcribe stage's manifest.json; the files it names are read from beside it.
``--texts`` is a JSON object ``{"texts": [...]}`` holding one text per cue of the transcript's track,
as the review task wrote it. Each cue keeps its times and takes the reviewer's text, broken into lines
by the same rules as transcribe's. The output is a whole transcribe manifest (the transcript, the
subtitles, the English track if any), so that burn, package and publish read it as they read
transcribe's; in transcript.json the segments become the reviewed cues, since the page shows them.
Without ``--texts`` the transcript passes through unchanged (an approval without edits).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
from pathlib import Path

from video_contract.manifests import CaptionEdits, CaptionsManifest, ReviewTexts, TranscribeManifest
from video_worker import caption_norms
from video_worker.errors import UsageError
from video_worker.linebreak import Breaker
from video_worker.storage import Location
from video_worker.subtitles import Cue, cues_from_json, cues_json, relined
from video_worker.transcribe import write_track

log = logging.getLogger(__name__)

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texts", default="",
                        help='the reviewed texts: a JSON object {"texts": [...]}, one per cue (s3://bucket/key or '
                             "a path); none keeps the transcript's")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> CaptionsManifest:
    try:
        transcribed = TranscribeManifest.from_json(json.loads(source.read_text()))
    except ValueError as exc:  # not JSON, or a ManifestError naming the field
        raise UsageError(f"--source {args.source} is not a transcribe manifest.json: {exc}") from exc
    tracks = [transcribed.subtitles, *([transcribed.translation.subtitles] if transcribed.translation else [])]
    names = [transcribed.transcript, transcribed.cues_file, *(n for t in tracks for n in (t.srt, t.vtt))]
    beside = Location(args.source.rsplit("/", 1)[0] if "/" in args.source else ".")
    local = {name: Location(beside.join(name)).download(workdir / "transcribe" / str(n))
             for n, name in enumerate(dict.fromkeys(names))}
    cues = cues_from_json(local[transcribed.cues_file].read_text(encoding="utf-8"))
    edited: list[int] = []
    if args.texts:
        texts = _texts(Location(args.texts).download(workdir / "texts"), len(cues))
        breaker = Breaker(transcribed.language)
        for n, (cue, text) in enumerate(zip(cues, texts)):
            if " ".join(text.split()) != cue.text:
                cues[n] = dataclasses.replace(cue, lines=relined(text, breaker))  # its speaker stays
                edited.append(n)
    for name, path in local.items():
        shutil.copyfile(path, out / name)
    if edited:
        write_track(out, "subtitles", cues)
        (out / transcribed.cues_file).write_text(cues_json(cues), encoding="utf-8")
        _reviewed_transcript(out / transcribed.transcript, cues)
    log.info("caption review: %d of %d cues edited", len(edited), len(cues))
    reviewed = {**transcribed.body_fields(), "cues": len(cues),
                "norm_violations": caption_norms.count(cues, fps=transcribed.fps,
                                                       language=transcribed.language).as_dict()}
    return CaptionsManifest(**reviewed, review=CaptionEdits(edited_cues=edited, cues=len(cues)))


def _texts(path: Path, count: int) -> list[str]:
    try:
        texts = ReviewTexts.from_json(json.loads(path.read_text(encoding="utf-8"))).texts
    except ValueError as exc:  # not JSON, or a ManifestError naming the field
        raise UsageError(f"--texts: not a JSON object with a list of texts ({exc})") from exc
    if not all(t.strip() for t in texts):
        raise UsageError("--texts: every cue needs a text (an empty line would remove a subtitle)")
    if len(texts) != count:
        raise UsageError(f"--texts: {len(texts)} texts for {count} cues; keep one line per subtitle")
    return texts


def _reviewed_transcript(path: Path, cues: list[Cue]) -> None:
    transcript = json.loads(path.read_text(encoding="utf-8"))
    transcript["segments"] = [{"id": n, "start": c.start, "end": c.end, "text": c.text, "words": [],
                               **({"speaker": c.speaker} if c.speaker else {})} for n, c in enumerate(cues)]
    transcript["text"] = " ".join(c.text for c in cues)
    transcript["reviewed"] = True
    path.write_text(json.dumps(transcript, indent=2, ensure_ascii=False), encoding="utf-8")
