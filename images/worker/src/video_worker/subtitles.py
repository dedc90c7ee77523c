"""Readable subtitle cues from timed words, and their SRT/WebVTT text.

Cues are cut and lines broken to the norms in caption_norms: the cut points
are chosen over the whole transcript at once (dynamic programming), so that a
subtitle ends where a sentence or clause does rather than wherever the last one
filled up. Whisper's repeated-phrase loops are collapsed before cues are built. A cue never holds two
speakers' words: where the speaker changes, so does the cue, and WebVTT names its voice (``<v Speaker 1>``).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
import textwrap
from dataclasses import dataclass

from video_contract import manifests
from video_worker.caption_norms import (
    MAX_CPS,
    MAX_CUE_S,
    MAX_LINE_CHARS,
    MAX_LINES,
    MIN_CUE_S,
    min_gap_s,
    reading_chars,
)
from video_worker.linebreak import CLAUSE, SENTENCE_END, Breaker

PAUSE_SPLIT_S = 1.2  # a longer silence always ends a cue
PAUSE_BREAK_S = 0.4  # a pause this long is as good a place to cut as a comma
CHAIN_S = 0.5  # a cue ending this close to the next one is held until 2 frames before it
MAX_CUE_WORDS = 40
# Costs the cutting weighs; a mid-phrase break costs 4 (linebreak), so these rank against it.
CUE_COST = 1.0  # per cue: fewer, fuller cues
SENTENCE_INSIDE_COST = 1.5  # a sentence ending inside a cue
BALANCE_COST = 3.0  # two lines of 42 and 0 characters
ORPHAN_COST = 20.0  # a one-word line
TOO_SHORT_COST = 20.0  # on screen for less than 5/6 s
TOO_FAST_COST = 10.0  # per 17 cps over the limit
LOOP_MIN_REPEATS = 3
LOOP_MAX_NGRAM = 12


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    speaker: str | None = None  # who says it, when the speech has more than one voice (speakers)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None

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


def wrap(texts: list[str], breaks: list[float]) -> tuple[tuple[str, ...], float] | None:
    """The best lines for these words and their cost; None when they do not fit in two lines.

    ``breaks[k]`` is what a break before ``texts[k]`` costs (Breaker.penalty).
    One line when it fits; otherwise the two-line break that the guides prefer,
    weighed against how unbalanced it leaves the lines, never a one-word line
    unless there are only two words.
    """
    total = sum(map(len, texts)) + len(texts) - 1
    if total <= MAX_LINE_CHARS:
        return (" ".join(texts),), 0.0
    best, first = None, -1
    for k in range(1, len(texts)):
        first += len(texts[k - 1]) + 1
        second = total - first - 1
        if first > MAX_LINE_CHARS or second > MAX_LINE_CHARS:
            continue
        cost = breaks[k] + BALANCE_COST * abs(first - second) / MAX_LINE_CHARS
        if len(texts) > 2 and (k == 1 or k == len(texts) - 1):
            cost += ORPHAN_COST
        if best is None or cost < best[1]:
            best = (k, cost)
    if best is None:
        return None
    k, cost = best
    return (" ".join(texts[:k]), " ".join(texts[k:])), cost


def cue_end(first: Word, last: Word, chars: int, next_start: float | None, gap: float) -> float:
    """When a cue leaves the screen.

    With its last word, held for at least 5/6 s and long enough to read at
    17 cps, never past 7 s nor within 2 frames of the next cue; a cue that
    would end just short of the next is held until 2 frames before it, as the
    guides ask, so that subtitles do not flicker off and on.
    """
    start = first.start
    end = max(last.end, start + MIN_CUE_S, start + chars / MAX_CPS)
    if next_start is not None:
        limit = next_start - gap
        end = limit if limit - end < CHAIN_S else end
        end = min(end, limit)
    return max(min(end, start + max(MAX_CUE_S, last.end - start)), start + 0.001)


def build_cues(words: list[Word], *, language: str | None = None, fps: float | None = None) -> list[Cue]:
    """Cut the words into cues and break their lines, to the norms, at the best places overall."""
    # Plain floats: engines give numpy ones, which the manifest's JSON cannot hold.
    words = [Word(float(w.start), float(max(w.end, w.start)), w.text.strip(), w.speaker)
             for w in words if w.text.strip()]
    breaker, gap, n = Breaker(language), min_gap_s(fps), len(words)
    texts = [w.text for w in words]
    breaks = [0.0] + [breaker.penalty(a, b) for a, b in itertools.pairwise(texts)]  # breaks[k]: before word k
    sentences = [0]  # sentences[k]: sentence ends among words[:k]
    for text in texts:
        sentences.append(sentences[-1] + (text[-1] in SENTENCE_END))
    cost = [0.0] + [math.inf] * n  # cost[j]: the best cutting of words[:j]
    choice: list[tuple[int, tuple[str, ...]]] = [(0, ())] * (n + 1)
    for j in range(1, n + 1):
        next_start = words[j].start if j < n else None
        cut = 0.0
        if j < n:  # where this cue ends; a pause is as good a place as a comma
            cut = min(breaks[j], CLAUSE) if words[j].start - words[j - 1].end >= PAUSE_BREAK_S else breaks[j]
        for i in range(j - 1, max(-1, j - 1 - MAX_CUE_WORDS), -1):
            if i < j - 1 and (words[i + 1].start - words[i].end > PAUSE_SPLIT_S
                              or words[j - 1].end - words[i].start > MAX_CUE_S
                              or words[i].speaker != words[j - 1].speaker):
                break
            wrapped = wrap(texts[i:j], breaks[i:j]) or (
                (_force_wrap(texts[i]), ORPHAN_COST) if j == i + 1 else None)
            if wrapped is None:
                break
            lines, line_cost = wrapped
            chars = reading_chars(lines)
            duration = cue_end(words[i], words[j - 1], chars, next_start, gap) - words[i].start
            total = (cost[i] + CUE_COST + line_cost + cut
                     + SENTENCE_INSIDE_COST * (sentences[j - 1] - sentences[i])
                     + (TOO_SHORT_COST if duration < MIN_CUE_S else 0.0)
                     + TOO_FAST_COST * max(0.0, chars / duration - MAX_CPS) / MAX_CPS)
            if total < cost[j]:
                cost[j], choice[j] = total, (i, lines)
    cuts = []
    j = n
    while j > 0:
        i, lines = choice[j]
        cuts.append((i, j, lines))
        j = i
    cues = []
    for i, j, lines in reversed(cuts):
        end = cue_end(words[i], words[j - 1], reading_chars(lines), words[j].start if j < n else None, gap)
        cues.append(Cue(round(words[i].start, 3), round(end, 3), lines, words[i].speaker))
    return cues


def break_lines(texts: list[str], breaks: list[float]) -> tuple[str, ...]:
    """The best lines for these words (``wrap``); past two lines of 42, as few lines of 42 as hold them,
    rather than any word lost (the norm count reports the cue)."""
    wrapped = wrap(texts, breaks)
    return wrapped[0] if wrapped else tuple(textwrap.wrap(" ".join(texts), MAX_LINE_CHARS))


def relined(text: str, breaker: Breaker) -> tuple[str, ...]:
    """``text`` broken into lines by the rules (a reviewer's edit, a translation)."""
    words = text.split()
    return break_lines(words, [0.0] + [breaker.penalty(a, b) for a, b in itertools.pairwise(words)])


def cues_json(cues: list[Cue]) -> str:
    """The cues as data (the contract's ``cues.json``), for stages that change their text and keep their times."""
    records = [manifests.Cue(start=c.start, end=c.end, lines=list(c.lines), speaker=c.speaker).to_json()
               for c in cues]
    return json.dumps(records, ensure_ascii=False)


def cues_from_json(text: str) -> list[Cue]:
    """``cues_json``'s cues; a ManifestError naming the cue and field when the file is not that."""
    return [Cue(c.start, c.end, tuple(c.lines), c.speaker) for c in manifests.read_cues(json.loads(text))]


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
    """WebVTT with cue text escaped: transcripts are untrusted text. A cue's speaker is its voice span
    (``<v Speaker 1>...</v>``), which players and ffmpeg's subtitle filter do not show as text."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        body = "\n".join(html.escape(line, quote=False) for line in cue.lines)
        if cue.speaker:
            body = f"<v {html.escape(' '.join(cue.speaker.split()))}>{body}</v>"
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
    return line.translate(str.maketrans("{}\\<>", "()/‹›"))
