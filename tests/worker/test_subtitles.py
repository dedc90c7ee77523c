"""Cue limits, loop removal and escaping: pure functions on plain data."""

from __future__ import annotations

from video_worker.subtitles import (
    MAX_CPS, MAX_LINE_CHARS, Cue, Word, build_cues, remove_loops, to_srt, to_vtt, words_from_segment,
)


def _words(text: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    return [Word(start + i * step, start + i * step + step * 0.9, t) for i, t in enumerate(text.split())]


def test_loops_collapse_but_natural_repeats_stay():
    words = _words("Thank you. Thank you. Thank you. Thank you. We saw a very very big bird bird bird bird")
    assert " ".join(w.text for w in remove_loops(words)) == "Thank you. We saw a very very big bird"


def test_long_phrase_loop_collapses():
    words = _words("and the lion sleeps tonight " * 4 + "the end")
    assert " ".join(w.text for w in remove_loops(words)) == "and the lion sleeps tonight the end"


def test_cues_respect_line_length_lines_and_reading_speed():
    text = ("Elephants and giraffes live together on the wide savanna while the zebra drinks "
            "water from the river every single morning before the heat of the day arrives. ") * 3
    cues = build_cues(_words(text, step=0.45))
    assert len(cues) > 3
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= MAX_LINE_CHARS for line in cue.lines)
        assert len(cue.text) / (cue.end - cue.start) <= MAX_CPS + 0.5
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert " ".join(c.text for c in cues) == text.strip()


def test_pause_starts_a_new_cue():
    cues = build_cues(_words("Hello there.") + _words("Much later now", start=10))
    assert [c.text for c in cues] == ["Hello there.", "Much later now"]


def test_segment_without_word_timings_is_spread_over_its_time():
    words = words_from_segment(2.0, 4.0, "one two three four")
    assert words[0].start == 2.0 and abs(words[-1].end - 4.0) < 1e-9
    assert [w.text for w in words] == ["one", "two", "three", "four"]


def test_untrusted_text_is_escaped():
    cues = [Cue(1.0, 2.5, ("<script>alert(1)</script> & {\\an8}",))]
    vtt = to_vtt(cues)
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:01.000 --> 00:00:02.500" in vtt
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in vtt and "<script>" not in vtt
    srt = to_srt(cues)
    assert srt.startswith("1\n00:00:01,000 --> 00:00:02,500\n")
    assert "<" not in srt and "{" not in srt and "\\" not in srt
