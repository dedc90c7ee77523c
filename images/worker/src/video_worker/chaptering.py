"""Shots grouped into chapters: a chapter starts at a shot cut, best where the speech pauses after a
sentence; it is titled with its first words, or "Chapter N" where nobody speaks in it.

A chapter is at least ``min_chapter_s`` long, and longer on a long video (duration / MAX_CHAPTERS), so a
list of chapters stays short enough to read: a 20 s video with a cut every 7 s has three, an hour about
MAX_CHAPTERS. Boundaries are only ever at cuts: a single-take video is one chapter. A cut while
someone speaks splits a sentence, so it starts a chapter only where no cut in a pause is near.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from video_contract.manifests import Chapter, Cue

MAX_CHAPTERS = 12  # on a long video, chapters grow so that there are about this many
TITLE_WORDS = 7  # a title is a glance, not a sentence
MIN_CLAUSE_WORDS = 2  # "Good morning," is a title; "So," is not
SENTENCE_END = re.compile(r"[.!?…。！？]['\")\]]*$")
# How well a cut suits a chapter boundary.
AFTER_SENTENCE = 2  # in a pause after a finished sentence (or with no speech before it)
IN_PAUSE = 1  # in a pause within a sentence
SPEAKING = 0  # someone speaks across it: a boundary only where no better cut is near


def min_length(duration_s: float, floor_s: float) -> float:
    """The shortest chapter of a video this long: the floor, or a MAX_CHAPTERS-th of a long video."""
    return max(floor_s, duration_s / MAX_CHAPTERS)


def fit(cut: float, cues: Sequence[Cue]) -> int:
    """How well ``cut`` (s) suits a chapter boundary, given the speech around it."""
    if any(cue.start < cut < cue.end for cue in cues):
        return SPEAKING
    before = [cue for cue in cues if cue.end <= cut]
    if not before:
        return AFTER_SENTENCE
    last = max(before, key=lambda cue: cue.end)
    return AFTER_SENTENCE if SENTENCE_END.search(" ".join(last.lines).strip()) else IN_PAUSE


def boundaries(*, duration_s: float, cuts: Sequence[float], cues: Sequence[Cue], min_chapter_s: float) -> list[float]:
    """Where each chapter starts (the first at 0).

    From each chapter's start, the cuts that leave both it and the rest at least ``min_chapter_s`` long
    are candidates; the best-fitting one within ``min_chapter_s`` of the first candidate wins (the
    earliest on a tie), so a chapter waits a little for a sentence to end but not for ever.
    """
    starts = [0.0]
    candidates = [(cut, fit(cut, cues)) for cut in sorted(cuts)]
    while True:
        after = [(cut, rank) for cut, rank in candidates
                 if cut - starts[-1] >= min_chapter_s and duration_s - cut >= min_chapter_s]
        if not after:
            return starts
        window = [(cut, rank) for cut, rank in after if cut < after[0][0] + min_chapter_s]
        best = max(rank for _, rank in window)
        starts.append(next(cut for cut, rank in window if rank == best))


def title(number: int, cues: Sequence[Cue], start: float, end: float) -> tuple[str, bool]:
    """(title, spoken): the first words said in [start, end), or "Chapter N" where nothing is said.

    A cue is said in the chapter that holds its middle: speech often runs a moment ahead of a cut. The
    title stops at the end of the first sentence, or at TITLE_WORDS; cut short, it ends at its last comma
    (a clause of MIN_CLAUSE_WORDS or more), else with "…".
    """
    said = " ".join(" ".join(cue.lines) for cue in cues if start <= (cue.start + cue.end) / 2 < end).split()
    if not said:
        return f"Chapter {number}", False
    words: list[str] = []
    for word in said[:TITLE_WORDS]:
        words.append(word)
        if SENTENCE_END.search(word):
            return " ".join(words).rstrip("."), True
    if len(words) == len(said):
        return " ".join(words).rstrip(",;:-–—"), True
    clause = max((n for n, word in enumerate(words, start=1) if word.endswith(",")), default=0)
    if clause >= MIN_CLAUSE_WORDS:
        return " ".join(words[:clause]).rstrip(","), True
    return " ".join(words).rstrip(",;:-–—") + "…", True


def chapters(*, duration_s: float, cuts: Sequence[float], cues: Sequence[Cue],
             min_chapter_s: float) -> list[Chapter]:
    """The video's chapters, covering it from 0 to ``duration_s``; none shorter than ``min_chapter_s``
    (VIDEO_WORKER_MIN_CHAPTER_S) or a MAX_CHAPTERS-th of the video."""
    shortest = min_length(duration_s, min_chapter_s)
    starts = boundaries(duration_s=duration_s, cuts=cuts, cues=cues, min_chapter_s=shortest)
    ends = [*starts[1:], duration_s]
    out = []
    for number, (start, end) in enumerate(zip(starts, ends), start=1):
        text, spoken = title(number, cues, start, end)
        shots = 1 + sum(1 for cut in cuts if start < cut < end)
        out.append(Chapter(start_s=round(start, 3), end_s=round(end, 3), title=text, spoken=spoken, shots=shots))
    return out
