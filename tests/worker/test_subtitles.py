"""Cue norms, line breaks, loop removal and escaping: pure functions on plain data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from video_worker import caption_norms
from video_worker.caption_norms import MAX_CPS, MAX_CUE_S, MAX_LINE_CHARS, MIN_CUE_S
from video_worker.subtitles import Cue, Word, build_cues, remove_loops, to_srt, to_vtt, words_from_segment

JFK = ("And so, my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")


def _words(text: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    return [Word(start + i * step, start + i * step + step * 0.9, t) for i, t in enumerate(text.split())]


def _paced(text: str, start: float = 0.0, cps: float = 14.0) -> list[Word]:
    """Words timed at a speaking rate in characters per second, as speech is."""
    words, t = [], start
    for token in text.split():
        span = (len(token) + 1) / cps
        words.append(Word(t, t + span * 0.9, token))
        t += span
    return words


def _violations(cues: list[Cue], fps: float = 25.0, language: str = "en") -> dict[str, int]:
    return caption_norms.count(cues, fps=fps, language=language).as_dict()


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
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert " ".join(c.text for c in cues) == text.strip()
    assert _violations(cues)["total"] == 0


def test_lines_and_cues_break_at_clauses_not_mid_phrase():
    cues = build_cues(_paced(JFK), language="en", fps=25)
    assert " ".join(c.text for c in cues) == JFK
    assert _violations(cues)["total"] == 0, [c.lines for c in cues]
    ends = [line.split()[-1] for c in cues for line in c.lines]
    assert all(end.endswith((",", ".")) for end in ends), [c.lines for c in cues]
    assert not any(line.endswith(" ask") or line.startswith("not ") for c in cues for line in c.lines)


def test_two_lines_have_no_orphan_and_stay_balanced():
    text = "The small grey elephant walked slowly towards the water in the afternoon"
    (cue,) = build_cues(_paced(text), language="en")
    assert len(cue.lines) == 2 and min(len(line.split()) for line in cue.lines) > 1
    assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= 20, cue.lines
    assert cue.lines[1].split()[0] in {"towards", "in"}, cue.lines


def test_timing_follows_words_with_minimum_duration_and_two_frame_gaps():
    words = _paced("Yes.") + _paced(JFK, start=3.0, cps=16.5) + _paced("Thank you.", start=30.0)
    cues = build_cues(words, language="en", fps=30)
    starts = {w.start for w in words}
    assert all(c.start in {round(s, 3) for s in starts} for c in cues)
    assert all(MIN_CUE_S - 1e-3 <= c.end - c.start <= MAX_CUE_S for c in cues)
    assert all(b.start - a.end >= 2 / 30 - 1e-3 for a, b in itertools.pairwise(cues))
    assert cues[0].text == "Yes." and cues[0].end < 3.0
    assert _violations(cues, fps=30)["total"] == 0


def test_fast_speech_is_reported_not_hidden_behind_drifting_cues():
    words = _paced(JFK + " " + JFK, cps=24.0)
    cues = build_cues(words, language="en")
    counted = _violations(cues)
    assert counted["fast_speech"] >= 1 and counted["too_fast"] == 0, counted
    starts = [round(w.start, 3) for w in words]
    assert all(c.start in starts for c in cues)  # each cue comes up with its first word: no drift
    assert all(a.end < b.start for a, b in itertools.pairwise(cues))


def test_french_breaks_before_its_conjunctions():
    text = "Je prends un café le matin parce que la journée commence tôt et je travaille loin de chez moi"
    cues = build_cues(_paced(text), language="fr")
    assert _violations(cues, language="fr")["mid_phrase_line_break"] == 0, [c.lines for c in cues]


@pytest.mark.parametrize(("cue", "broken"), [
    (Cue(0.0, 3.0, ("x" * 43,)), "line_too_long"),
    (Cue(0.0, 3.0, ("one", "two", "three")), "too_many_lines"),
    (Cue(0.0, 3.0, ("The cat sat on the", "mat")), "orphan_line"),
    (Cue(0.0, 3.0, ("Ask", "not what your country can do")), "mid_phrase_line_break"),
    (Cue(0.0, 3.0, ("the quick brown fox jumps over the", "lazy dog")), "mid_phrase_line_break"),
    (Cue(0.0, 0.5, ("Hi.",)), "too_short"),
    (Cue(0.0, 8.0, ("A long pause.",)), "too_long"),
    (Cue(0.0, 1.0, ("Twenty-five characters go",)), "too_fast"),
])
def test_the_count_finds_each_broken_norm(cue, broken):
    counted = _violations([cue, Cue(20.0, 22.0, ("Next.",))])
    assert counted[broken] == 1 and counted["total"] >= 1, counted


def test_the_count_finds_cues_too_close_together():
    counted = _violations([Cue(0.0, 2.0, ("First.",)), Cue(2.05, 4.0, ("Second.",))], fps=25)
    assert counted["gap_too_small"] == 1


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


def test_engine_times_come_out_as_plain_json_numbers():
    words = [Word(np.float64(w.start), np.float64(w.end), w.text) for w in _paced(JFK)]
    cues = build_cues(words, language="en", fps=25)
    assert json.loads(json.dumps([[c.start, c.end] for c in cues])) == [[c.start, c.end] for c in cues]
    json.dumps(caption_norms.count(cues, fps=np.float64(25.0), language="en").as_dict())
