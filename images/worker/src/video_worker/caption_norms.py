"""The subtitle norms cues are built to, and a count of where cues break them.

The figures are Netflix's timed-text style guide for English, the reference the
caption tools follow: two lines of at most 42 characters, 5/6 s to 7 s on
screen, at least 2 frames between subtitles, at most 17 characters per second.
The count goes into the transcribe manifest, so every run says how its
subtitles measure up, and the benchmarks and tests read it from there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from video_worker.linebreak import Breaker

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_S = 5 / 6
MAX_CUE_S = 7.0
MIN_GAP_FRAMES = 2
MAX_CPS = 17.0
DEFAULT_FPS = 25.0  # for audio without video: 2 frames at 25 fps is 80 ms
CPS_TOLERANCE = 0.05  # cue times are rounded to the millisecond


class CueLike(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def lines(self) -> tuple[str, ...]: ...


def min_gap_s(fps: float | None) -> float:
    return MIN_GAP_FRAMES / (fps or DEFAULT_FPS)


def reading_chars(lines: Sequence[str]) -> int:
    """Characters a viewer reads: the text with one space where a line breaks."""
    return len(" ".join(lines))


@dataclass(frozen=True)
class Violations:
    """How many cues break each norm; ``fast_speech`` cues are over 17 cps because the speech is."""

    line_too_long: int = 0
    too_many_lines: int = 0
    orphan_line: int = 0
    mid_phrase_line_break: int = 0
    too_short: int = 0
    too_long: int = 0
    gap_too_small: int = 0
    too_fast: int = 0
    fast_speech: int = 0

    @property
    def total(self) -> int:
        """Every violation; fast speech is reported, not counted, as the guides relax the limit for it."""
        return sum(v for k, v in self.__dict__.items() if k != "fast_speech")

    def as_dict(self) -> dict[str, int]:
        return {**self.__dict__, "total": self.total}


def count(cues: Sequence[CueLike], *, fps: float | None, language: str | None) -> Violations:
    """Count each cue against the norms.

    A cue over 17 cps whose text cannot be read at 17 cps before the next cue
    starts (or within 7 s) is fast speech, not a violation: only a longer cue
    could slow it, and that cue would run ahead of the speech.
    """
    breaker = Breaker(language)
    gap = min_gap_s(fps)
    found = dict.fromkeys(Violations.__dataclass_fields__, 0)
    for i, cue in enumerate(cues):
        duration = cue.end - cue.start
        words = [line.split() for line in cue.lines]
        found["line_too_long"] += any(len(line) > MAX_LINE_CHARS for line in cue.lines)
        found["too_many_lines"] += len(cue.lines) > MAX_LINES
        found["orphan_line"] += len(cue.lines) > 1 and sum(map(len, words)) > 2 and min(map(len, words)) == 1
        found["mid_phrase_line_break"] += any(
            not breaker.is_clean(a[-1], b[0]) for a, b in itertools.pairwise(words) if a and b)
        found["too_short"] += duration < MIN_CUE_S - 1e-3
        found["too_long"] += duration > MAX_CUE_S + 1e-3
        nxt = cues[i + 1].start if i + 1 < len(cues) else None
        found["gap_too_small"] += nxt is not None and nxt - cue.end < gap - 1e-3
        chars = reading_chars(cue.lines)
        if chars / max(duration, 1e-3) > MAX_CPS + CPS_TOLERANCE:
            room = min(MAX_CUE_S, nxt - gap - cue.start) if nxt is not None else MAX_CUE_S
            found["too_fast" if room * (MAX_CPS + CPS_TOLERANCE) >= chars else "fast_speech"] += 1
    return Violations(**{k: int(v) for k, v in found.items()})  # numpy times make numpy counts
