"""An English subtitle track for speech in another language, on the source track's timing.

Whisper translates whole sentences far better than fragments, so the source
cues are grouped into sentences (``sentence_clips``) and each group's audio is
translated as one clip. The English text of a group is then spread over that
group's cues (``spread``): each English cue has the times of a source cue, its
share of the words follows the source cue's share of the text, and the cuts
fall where the line-break rules prefer. Viewers switching tracks see the same
rhythm, and the English never runs ahead of or behind the voice.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from video_worker.caption_norms import MAX_LINE_CHARS, MAX_LINES
from video_worker.linebreak import SENTENCE_END, Breaker
from video_worker.subtitles import PAUSE_SPLIT_S, Cue, break_lines
from video_worker.whisper_engines import Engine

TARGET = "en"  # the only language Whisper's translate task writes
MAX_CLIP_S = 28.0  # a sentence group stays within one of Whisper's 30 s windows
SHARE_COST = 8.0  # a part with all the words where the source cue had none
EMPTY_COST = 20.0  # a source cue left without English (only when there are fewer words than cues)
OVERFLOW_COST = 50.0  # a part longer than two lines


def sentence_clips(cues: list[Cue]) -> list[list[int]]:
    """Cue indexes grouped into sentences: a group ends with a sentence, a long pause, or at 28 s."""
    groups: list[list[int]] = []
    for i, cue in enumerate(cues):
        if groups:
            first, last = cues[groups[-1][0]], cues[groups[-1][-1]]
            ended = last.text.rstrip("\"'»”)")[-1:] in SENTENCE_END
            if not ended and cue.start - last.end <= PAUSE_SPLIT_S and cue.end - first.start <= MAX_CLIP_S:
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


def clip_texts(segments: list[dict[str, Any]], clips: list[tuple[float, float]]) -> list[str]:
    """Each clip's translated text: the segments whose middle falls in it (else the nearest clip)."""
    texts: list[list[str]] = [[] for _ in clips]
    for seg in segments:
        middle = (seg["start"] + seg["end"]) / 2
        nearest = min(range(len(clips)),
                      key=lambda i: max(clips[i][0] - middle, middle - clips[i][1], 0.0))
        if seg["text"]:
            texts[nearest].append(seg["text"])
    return [" ".join(parts) for parts in texts]


def spread(text: str, cues: list[Cue], breaker: Breaker) -> list[Cue]:
    """``text`` cut into one part per cue, on the cues' times; cues left without words are dropped.

    Dynamic programming over the cut points: a cut costs what breaking the line
    there would (linebreak), and a part costs how far its share of the
    characters is from its cue's share of the source text.
    """
    words = text.split()
    n, k = len(words), len(cues)
    if not n:
        return []
    source = [max(1, len(cue.text)) for cue in cues]
    target = [length / sum(source) for length in source]
    chars = [0]
    for word in words:
        chars.append(chars[-1] + len(word) + 1)
    total = chars[-1]
    breaks = [0.0] + [breaker.penalty(a, b) for a, b in zip(words, words[1:])]

    def part_cost(i: int, a: int, b: int) -> float:
        if a == b:
            return EMPTY_COST
        length = chars[b] - chars[a] - 1
        over = OVERFLOW_COST if length > MAX_LINE_CHARS * MAX_LINES else 0.0
        return SHARE_COST * abs((chars[b] - chars[a]) / total - target[i]) + over

    cost = [[math.inf] * (n + 1) for _ in range(k + 1)]
    back = [[0] * (n + 1) for _ in range(k + 1)]
    cost[0][0] = 0.0
    for i in range(1, k + 1):
        for b in range(n + 1):
            for a in range(b + 1):
                if cost[i - 1][a] == math.inf:
                    continue
                cut = breaks[b] if 0 < b < n and a < b else 0.0
                value = cost[i - 1][a] + part_cost(i - 1, a, b) + cut
                if value < cost[i][b]:
                    cost[i][b], back[i][b] = value, a
    bounds, b = [], n
    for i in range(k, 0, -1):
        a = back[i][b]
        bounds.append((a, b))
        b = a
    return [Cue(cue.start, cue.end, break_lines(words[a:b], breaks[a:b]), cue.speaker)
            for cue, (a, b) in zip(cues, reversed(bounds)) if a < b]


def translate(engine: Engine, audio: Path, language: str, cues: list[Cue]) -> list[Cue]:
    """English cues for ``cues`` (speech in ``language``), with the same times."""
    groups = sentence_clips(cues)
    clips = [(cues[g[0]].start, cues[g[-1]].end) for g in groups]
    texts = clip_texts(engine.translate(audio, language, clips), clips)
    breaker = Breaker(TARGET)
    return [cue for group, text in zip(groups, texts) for cue in spread(text, [cues[i] for i in group], breaker)]
