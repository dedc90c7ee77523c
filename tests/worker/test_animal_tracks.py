"""animal_tracks: hits linked over sampled frames, voted labels, noise dropped, the animal-on-screen timeline."""

from __future__ import annotations

import pytest

from video_contract.manifests import UNSURE_ANIMAL
from video_worker.animal_tracks import Hit, Naming, Track, iou, keep, link, on_screen

BOX = (100.0, 100.0, 200.0, 200.0)


def hit(frame: int, label: str = "cat", confidence: float = 0.5, box=BOX, fps: float = 2.0) -> Hit:
    return Hit(frame=frame, t=frame / fps, label=label, confidence=confidence, box=box)


def shifted(dx: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = BOX
    return (x1 + dx, y1, x2 + dx, y2)


def test_one_animal_misread_from_frame_to_frame_is_one_track_labelled_by_the_vote():
    hits = [hit(0, "bird", 0.8), hit(1, "dog", 0.3, shifted(10)), hit(2, "bird", 0.6, shifted(20)),
            hit(3, "cat", 0.9, shifted(30))]
    [track] = link(hits, min_iou=0.1, max_gap_s=2.0)
    assert [h.frame for h in track.hits] == [0, 1, 2, 3]
    assert track.votes == pytest.approx({"bird": 1.4, "dog": 0.3, "cat": 0.9})
    assert track.top == "bird"
    assert track.best.confidence == 0.8  # the best frame among those of the winning label, not the cat's 0.9
    assert (track.first_s, track.last_s) == (0.0, 1.5)


def test_two_animals_side_by_side_stay_two_tracks():
    left, right = BOX, (400.0, 100.0, 500.0, 200.0)
    hits = [hit(n, "dog", 0.7, left) for n in range(3)] + [hit(n, "cat", 0.7, right) for n in range(3)]
    tracks = link(hits, min_iou=0.1, max_gap_s=2.0)
    assert sorted((t.label(), len(t.hits)) for t in tracks) == [("cat", 3), ("dog", 3)]


def test_one_animal_read_as_two_classes_on_one_frame_stays_one_track():
    """Big Buck Bunny's rabbit on one frame: a cat at 0.53 and a sheep at 0.21 over the same box (IoU 0.97)."""
    hits = [hit(0, "cat", 0.74), hit(1, "cat", 0.53, shifted(5)), hit(1, "sheep", 0.21, shifted(6)),
            hit(2, "dog", 0.73, shifted(10)), hit(2, "person", 0.9, shifted(10))]
    tracks = link(hits, min_iou=0.1, max_gap_s=2.0)
    assert sorted([h.label for h in t.hits] for t in tracks) == [["cat", "cat", "dog"], ["person"]]


def test_a_non_animal_class_links_only_to_itself():
    hits = [hit(0, "person", 0.9), hit(1, "dog", 0.9), hit(2, "person", 0.9)]
    tracks = link(hits, min_iou=0.1, max_gap_s=2.0)
    assert sorted([h.label for h in t.hits] for t in tracks) == [["dog"], ["person", "person"]]


def test_a_track_survives_a_short_miss_and_ends_after_a_long_one():
    hits = [hit(0), hit(1), hit(4), hit(9)]  # 1.5 s, then 2.5 s without a hit (2 fps)
    tracks = link(hits, min_iou=0.1, max_gap_s=2.0)
    assert [[h.frame for h in t.hits] for t in tracks] == [[0, 1, 4], [9]]


def test_boxes_that_do_not_overlap_enough_start_a_new_track():
    tracks = link([hit(0), hit(1, box=shifted(95))], min_iou=0.1, max_gap_s=2.0)  # IoU 5/195
    assert len(tracks) == 2
    assert iou(BOX, shifted(95)) == pytest.approx(5 / 195)
    assert iou(BOX, BOX) == 1.0 and iou(BOX, (300.0, 300.0, 310.0, 310.0)) == 0.0


def test_one_doubtful_frame_is_dropped_but_a_steady_weak_track_is_kept():
    noise = Track([hit(0, "dog", 0.3)])
    steady = Track([hit(n, "cat", 0.3) for n in range(3)])
    sure = Track([hit(5, "bird", 0.6)])
    assert keep([noise, steady, sure], min_score=0.5) == [steady, sure]


def test_on_screen_merges_every_kept_track_whatever_its_label():
    cat = Track([hit(n, "cat") for n in range(0, 6)])  # 0-2.5 s
    dog = Track([hit(n, "dog") for n in range(4, 10)])  # 2-4.5 s: overlaps the cat
    bird = Track([hit(n, "bird") for n in range(16, 18)])  # 8-8.5 s
    assert on_screen([cat, dog, bird], sample_s=0.5, duration_s=8.6) == [(0.0, 4.75), (7.75, 8.6)]
    assert on_screen([], sample_s=0.5, duration_s=10) == []


# Naming: a species only where the reads agree ---------------------------------------------------------------

RULE = Naming(share=0.7, min_votes=1.0)


def test_reads_that_agree_name_the_species():
    track = Track([hit(n, "cat", 0.6) for n in range(3)])
    assert (track.label(RULE), track.candidates) == ("cat", ["cat"])


def test_a_split_vote_is_an_animal_with_its_candidates_most_voted_first():
    """The close-up bird of the issue, frame by frame: dog 0.63, bird 0.68, bird 0.40, horse 0.35."""
    track = Track([hit(0, "dog", 0.63), hit(1, "bird", 0.68), hit(2, "bird", 0.40), hit(3, "horse", 0.35)])
    assert track.top == "bird"  # the plain vote would have said bird, at 52% of it
    assert track.label(RULE) == UNSURE_ANIMAL
    assert track.candidates == ["bird", "dog", "horse"]


def test_a_second_look_that_agrees_tips_the_vote_to_the_species():
    frames = [hit(0, "dog", 0.63), hit(1, "bird", 0.68), hit(2, "bird", 0.40)]
    looks = [hit(1, "bird", 0.7), hit(1, "bird", 0.6), hit(2, "bird", 0.5)]
    assert Track(frames).label(RULE) == UNSURE_ANIMAL
    track = Track(frames, looks)
    assert track.votes == pytest.approx({"dog": 0.63, "bird": 2.88})
    assert track.label(RULE) == "bird"
    assert track.score == pytest.approx(1.71)  # looks vote on the label, not on whether the track is kept


def test_too_little_confidence_is_no_species_however_unanimous():
    assert Track([hit(0, "cat", 0.3), hit(1, "cat", 0.3)]).label(RULE) == UNSURE_ANIMAL


def test_a_minor_reading_is_no_candidate():
    track = Track([hit(n, "cat", 0.9) for n in range(4)] + [hit(4, "dog", 0.2)])
    assert track.candidates == ["cat"]  # the dog has 5% of the vote


def test_spans_a_short_gap_apart_are_bridged_into_one_stretch_on_screen():
    tracks = [Track([hit(0), hit(2)]), Track([hit(5), hit(6)])]  # 2 fps: 0-1 s, then 2.5-3 s
    assert on_screen(tracks, 0.5, 10, bridge_s=0.0) == [(0.0, 1.25), (2.25, 3.25)]
    assert on_screen(tracks, 0.5, 10, bridge_s=1.0) == [(0.0, 3.25)]
