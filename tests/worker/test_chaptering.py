"""chaptering and shots: cuts from scene scores, chapters placed at cuts in the speech's pauses, titles."""

from __future__ import annotations

import pytest

from video_contract.manifests import Cue
from video_worker import chaptering, shots
from video_worker.chaptering import AFTER_SENTENCE, IN_PAUSE, SPEAKING


def cue(start: float, end: float, text: str) -> Cue:
    return Cue(start=start, end=end, lines=[text])


SPEECH = [cue(0.5, 3.0, "Hello and welcome."), cue(4.0, 9.0, "Today we walk along"), cue(9.5, 12.0, "the river.")]


def test_a_cut_suits_a_boundary_best_after_a_sentence_and_least_while_someone_speaks():
    assert chaptering.fit(0.2, SPEECH) == AFTER_SENTENCE  # nothing said yet
    assert chaptering.fit(3.5, SPEECH) == AFTER_SENTENCE
    assert chaptering.fit(9.2, SPEECH) == IN_PAUSE
    assert chaptering.fit(6.0, SPEECH) == SPEAKING
    assert chaptering.fit(6.0, []) == AFTER_SENTENCE


def test_chapters_start_at_the_best_cut_near_the_first_that_is_long_enough():
    # From 0, cuts at or after 5 s are candidates; within 5 s of the first (6), the cut after a sentence wins.
    starts = chaptering.boundaries(duration_s=30, cuts=[2.0, 6.0, 9.2, 12.5, 20.0, 27.0], cues=SPEECH, min_chapter_s=5)
    assert starts == [0.0, 9.2, 20.0]  # 6 is mid-sentence, 9.2 in a pause; 27 would leave 3 s
    # With only a cut while someone speaks, that cut still starts a chapter: a sentence split beats no chapters.
    assert chaptering.boundaries(duration_s=20, cuts=[6.0], cues=SPEECH, min_chapter_s=5) == [0.0, 6.0]
    assert chaptering.boundaries(duration_s=20, cuts=[], cues=SPEECH, min_chapter_s=5) == [0.0]


def test_a_long_videos_chapters_grow_so_that_the_list_stays_short():
    assert chaptering.min_length(20, 5) == 5
    assert chaptering.min_length(3600, 5) == 3600 / chaptering.MAX_CHAPTERS
    cuts = [float(t) for t in range(7, 3600, 7)]  # a cut every 7 s for an hour
    assert len(chaptering.chapters(duration_s=3600, cuts=cuts, cues=[], min_chapter_s=5)) <= chaptering.MAX_CHAPTERS


@pytest.mark.parametrize(("cues", "title", "spoken"), [
    ([cue(1, 2, "Hello and welcome."), cue(3, 4, "More.")], "Hello and welcome", True),
    ([cue(1, 2, "Today we will look at animals in the park")], "Today we will look at animals in…", True),
    ([cue(1, 2, "Good morning, and welcome to the lovely park")], "Good morning", True),  # cut at its clause
    ([cue(1, 2, "So, we will look at animals in the park")], "So, we will look at animals in…", True),
    ([cue(1, 2, "Is it a cat? Yes")], "Is it a cat?", True),
    ([cue(1, 2, "A black cat sits,")], "A black cat sits", True),
    ([cue(0, 3, "Said mostly in the chapter.")], "Said mostly in the chapter", True),  # its middle, 1.5 s, is in it
    ([cue(0, 0.8, "Said before the chapter.")], "Chapter 2", False),
    ([cue(9, 12, "Said mostly after it.")], "Chapter 2", False),
    ([], "Chapter 2", False),
])
def test_a_title_is_the_first_words_said_in_the_chapter(cues, title, spoken):
    assert chaptering.title(2, cues, 0.5, 10) == (title, spoken)


def test_chapters_cover_the_video_and_count_their_shots():
    found = chaptering.chapters(duration_s=30, cuts=[2.0, 6.0, 9.2, 12.5, 20.0, 27.0], cues=SPEECH, min_chapter_s=5)
    assert [(c.start_s, c.end_s, c.shots) for c in found] == [(0.0, 9.2, 3), (9.2, 20.0, 2), (20.0, 30, 2)]
    assert [c.title for c in found] == ["Hello and welcome", "the river", "Chapter 3"]


def test_scene_scores_are_read_from_ffmpegs_print_and_cuts_need_a_whole_shot_between():
    printed = ("frame:0    pts:0       pts_time:0\nlavfi.scd.score=0.000\n"
               "frame:1    pts:512     pts_time:0.04\nlavfi.scd.score=25.5\n"
               "frame:2    pts:1024    pts_time:0.08\nlavfi.scd.score=30.1\n"
               "frame:3    pts:1536    pts_time:1.2\nlavfi.scd.score=12.0\n"
               "frame:4    pts:2048    pts_time:1.24\nlavfi.scd.score=9.9\n")
    frames = shots.parse_scores(printed)
    assert [(f.t, f.score) for f in frames] == [(0, 0), (0.04, 25.5), (0.08, 30.1), (1.2, 12.0), (1.24, 9.9)]
    # 0.04 and 0.08 are too close to the start to be shots of their own; 1.2 is a cut, 1.24 under the threshold.
    assert shots.cuts(frames, threshold=10) == [1.2]
    assert shots.cuts(frames, threshold=10, min_shot_s=0.01) == [0.04, 0.08, 1.2]
