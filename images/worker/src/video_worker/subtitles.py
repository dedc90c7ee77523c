"""Readable subtitle cues from timed words, and their SRT/WebVTT text.

Cues follow common broadcast limits: at most two lines of about 42 characters
and at most about 17 characters per second; Whisper's repeated-phrase loops are
collapsed before cues are built.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CPS = 17.0
MAX_CUE_S = 7.0
MIN_CUE_S = 1.0
PAUSE_SPLIT_S = 1.2
MIN_GAP_S = 0.04
LOOP_MIN_REPEATS = 3
LOOP_MAX_NGRAM = 12


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def _norm(word: Word) -> str:
    return re.sub(r"[^\w']", "", word.text.lower())


def remove_loops(words: list[Word]) -> list[Word]:
    """Keep one copy of any phrase of up to 12 words repeated 3 or more times in a row."""
    keys = [_norm(w) for w in words]
    out: list[Word] = []
    i = 0
    while i < len(words):
        kept, step = words[i : i + 1], 1
        for n in range(1, min(LOOP_MAX_NGRAM, len(words) - i) + 1):
            phrase = keys[i : i + n]
            repeats = 1
            while keys[i + repeats * n : i + (repeats + 1) * n] == phrase:
                repeats += 1
            if repeats >= LOOP_MIN_REPEATS and any(phrase):
                kept, step = words[i : i + n], n * repeats
                break
        out.extend(kept)
        i += step
    return out


def words_from_segment(start: float, end: float, text: str) -> list[Word]:
    """Spread a segment's words over its time by character count, for engines without word timings."""
    tokens = text.split()
    total = sum(len(t) + 1 for t in tokens) or 1
    words, t = [], start
    for token in tokens:
        span = (end - start) * (len(token) + 1) / total
        words.append(Word(t, t + span, token))
        t += span
    return words


def wrap(text: str) -> tuple[str, ...] | None:
    """One line, or two balanced lines within the limit; None when it cannot fit."""
    if len(text) <= MAX_LINE_CHARS:
        return (text,)
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    best = None
    for i in spaces:
        first, second = text[:i], text[i + 1 :]
        if len(first) <= MAX_LINE_CHARS and len(second) <= MAX_LINE_CHARS:
            score = abs(len(first) - len(second))
            if best is None or score < best[0]:
                best = (score, (first, second))
    return best[1] if best else None


def build_cues(words: list[Word]) -> list[Cue]:
    """Group words into cues that respect line, length and reading-speed limits."""
    groups: list[list[Word]] = []
    for word in words:
        text = word.text.strip()
        if not text:
            continue
        word = Word(word.start, max(word.end, word.start), text)
        current = groups[-1] if groups else None
        if current:
            joined = " ".join(w.text for w in [*current, word])
            sentence_done = current[-1].text[-1] in ".?!" and len(" ".join(w.text for w in current)) >= 20
            if (
                wrap(joined) is not None
                and word.end - current[0].start <= MAX_CUE_S
                and word.start - current[-1].end <= PAUSE_SPLIT_S
                and not sentence_done
            ):
                current.append(word)
                continue
        groups.append([word])

    cues: list[Cue] = []
    for i, group in enumerate(groups):
        text = " ".join(w.text for w in group)
        lines = wrap(text) or _force_wrap(text)
        start = group[0].start
        # Stretch short or fast cues into the silence that follows, never over the next cue.
        want = max(group[-1].end, start + MIN_CUE_S, start + len(text) / MAX_CPS)
        limit = groups[i + 1][0].start - MIN_GAP_S if i + 1 < len(groups) else want
        end = max(group[-1].end, min(want, limit))
        cues.append(Cue(round(start, 3), round(max(end, start + 0.1), 3), lines))
    return cues


def _force_wrap(text: str) -> tuple[str, ...]:
    """A single word longer than two lines: cut it, rather than lose it."""
    return tuple(text[i : i + MAX_LINE_CHARS] for i in range(0, len(text), MAX_LINE_CHARS))[:MAX_LINES]


def timestamp(seconds: float, sep: str = ".") -> str:
    """WebVTT (``.``) or SRT (``,``) cue time."""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT with cue text escaped: transcripts are untrusted text."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        body = "\n".join(html.escape(line, quote=False) for line in cue.lines)
        blocks.append(f"{timestamp(cue.start, '.')} --> {timestamp(cue.end, '.')}\n{body}\n")
    return "\n".join(blocks)


def to_srt(cues: list[Cue]) -> str:
    """SRT with markup neutralised, so libass shows text and never runs override codes."""
    blocks = []
    for n, cue in enumerate(cues, 1):
        body = "\n".join(_plain(line) for line in cue.lines)
        blocks.append(f"{n}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{body}\n")
    return "\n".join(blocks)


def _plain(line: str) -> str:
    return line.translate(str.maketrans({"{": "(", "}": ")", "\\": "/", "<": "‹", ">": "›"}))
