"""Animals as tracks over time, not as per-frame hits.

A small detector misreads an animal from frame to frame (a bird as a dog, a
rabbit as a cat, then a sheep) and misses it on others. Linking the hits of
consecutive sampled frames by their boxes' overlap makes one track per animal;
the track's label is the confidence-weighted vote of its frames, and a track
too weak overall (one doubtful frame) is dropped as noise. Boxes of two
animal classes link into one track; a non-animal class links only to itself.

A track is named only when its evidence agrees: the frames' votes and a second
look at its clearest frames (second_look.py) give one label a clear majority
and enough confidence. Otherwise it is an "animal", with the labels it was read
as for candidates ("bird or cat?"): a nano model's close-up of a bird, read as a
dog, then a horse, then a bird, is not shown as a confident horse.

The "animal on screen" timeline merges every kept track, whatever its label, and
the follow view's sightings around them (follow.py): a bird misread as a dog on
one frame, or lost while it fills the frame, is still an animal on screen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from video_contract.manifests import UNSURE_ANIMAL
from video_worker.settings import ANIMAL_CLASSES

ANIMALS = frozenset(ANIMAL_CLASSES)
LINK_IOU = 0.1  # boxes on consecutive samples overlap at least this much to be one animal
# Two animal boxes on one frame that overlap this much are one animal read as two classes: the model's NMS
# is per class, so it keeps both. 0.7 is that NMS's own IoU (onnx_detector.IOU), applied across animal classes.
SAME_ANIMAL_IOU = 0.7
# Timeline spans at most this far apart are one stretch on screen. bench/quality.py measures it with the follow
# window (settings' detect_follow_s): with the follow view's sightings, 2 s finds 99% of the on-screen seconds of every
# clip (the close-ups' cat is lost for 2 s as its face overflows the frame); 3 s claims false seconds where
# the cat leaves the frame for 3 s.
BRIDGE_S = 2.0
CANDIDATES = 3  # at most this many labels are offered for an unsure track, most voted first
CANDIDATE_SHARE = 0.15  # a label with less of the vote than this is no candidate


@dataclass(frozen=True)
class Naming:
    """When a track gets a species: its top label has at least ``share`` of the summed confidence of all
    its reads (frames and second looks) and ``min_votes`` of its own. bench/quality.py measures them."""

    share: float = 0.8
    min_votes: float = 2.0


NAMING = Naming()


@dataclass(frozen=True)
class Hit:
    """One box on one sampled frame; ``box`` is x1, y1, x2, y2 in that frame's pixels."""

    frame: int
    t: float
    label: str
    confidence: float
    box: tuple[float, ...]


@dataclass
class Track:
    """One object followed over sampled frames: at most one hit per frame, in time order."""

    hits: list[Hit] = field(default_factory=list)
    looks: list[Hit] = field(default_factory=list)  # the second look's reads of its clearest frames

    @property
    def first_s(self) -> float:
        return self.hits[0].t

    @property
    def last_s(self) -> float:
        return self.hits[-1].t

    @property
    def votes(self) -> dict[str, float]:
        """Each label's summed confidence over the track's frames and second looks."""
        votes: dict[str, float] = defaultdict(float)
        for hit in self.hits + self.looks:
            votes[hit.label] += hit.confidence
        return dict(votes)

    @property
    def score(self) -> float:
        """The frames' summed confidence, whatever the labels: how sure it is that something is there."""
        return sum(hit.confidence for hit in self.hits)

    @property
    def top(self) -> str:
        """The most voted label."""
        votes = self.votes
        return max(votes, key=lambda label: (votes[label], label))

    def label(self, naming: Naming = NAMING) -> str:
        """The species, when the votes agree on one (``naming``); else UNSURE_ANIMAL."""
        votes = self.votes
        top, total = self.top, sum(votes.values())
        agree = votes[top] >= naming.share * total - 1e-9 and votes[top] >= naming.min_votes - 1e-9
        return top if agree or top not in ANIMALS else UNSURE_ANIMAL

    @property
    def candidates(self) -> list[str]:
        """The labels it was read as with a share of the vote (CANDIDATE_SHARE), most voted first."""
        votes = self.votes
        total = sum(votes.values())
        ranked = sorted(votes, key=lambda label: (-votes[label], label))
        return [label for label in ranked if votes[label] >= CANDIDATE_SHARE * total][:CANDIDATES]

    @property
    def best(self) -> Hit:
        """The most confident frame that carries the most voted label: its thumbnail."""
        top = self.top
        return max((h for h in self.hits if h.label == top), key=lambda h: (h.confidence, -h.t),
                   default=max(self.hits, key=lambda h: (h.confidence, -h.t)))


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def can_link(a: str, b: str) -> bool:
    return a == b or (a in ANIMALS and b in ANIMALS)


def one_per_animal(found: list[Hit]) -> list[Hit]:
    """One frame's hits without the weaker reading of an animal that a stronger box of another animal class
    already covers (SAME_ANIMAL_IOU): a cat at 0.53 and a sheep at 0.21 on the same rabbit are one animal."""
    kept: list[Hit] = []
    for hit in sorted(found, key=lambda h: -h.confidence):
        if not (hit.label in ANIMALS and any(
                other.label in ANIMALS and iou(other.box, hit.box) >= SAME_ANIMAL_IOU for other in kept)):
            kept.append(hit)
    return kept


def link(hits: Iterable[Hit], *, min_iou: float, max_gap_s: float) -> list[Track]:
    """Tracks from hits, frame by frame: each hit joins the open track whose last box it overlaps most.

    Each frame's hits first lose their doubles of one animal (one_per_animal). A track stays open while
    its last hit is at most ``max_gap_s`` old, so an animal missed on a frame or two keeps its track.
    Matching is greedy on overlap, best pairs first, one hit per track per frame.
    Tracks come out in order of their first hit.
    """
    by_frame: dict[int, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_frame[hit.frame].append(hit)
    tracks: list[Track] = []
    for frame in sorted(by_frame):
        found = one_per_animal(by_frame[frame])
        t = found[0].t
        open_tracks = [tr for tr in tracks if t - tr.last_s <= max_gap_s + 1e-6]
        pairs = sorted(
            ((iou(tr.hits[-1].box, h.box), i, j) for i, tr in enumerate(open_tracks) for j, h in enumerate(found)
             if can_link(tr.hits[-1].label, h.label)),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_hits: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < min_iou:
                break
            if i in used_tracks or j in used_hits:
                continue
            open_tracks[i].hits.append(found[j])
            used_tracks.add(i)
            used_hits.add(j)
        tracks += [Track([h]) for j, h in enumerate(found) if j not in used_hits]
    return sorted(tracks, key=lambda tr: (tr.first_s, tr.hits[0].frame))


def keep(tracks: list[Track], min_score: float) -> list[Track]:
    """The tracks whose summed confidence reaches ``min_score``: one doubtful frame is noise."""
    return [tr for tr in tracks if tr.score >= min_score - 1e-9]


def on_screen(tracks: list[Track], sample_s: float, duration_s: float, bridge_s: float = 0.0,
              sightings: Iterable[Hit] = ()) -> list[tuple[float, float]]:
    """When an animal is on screen: each kept track spans its first to its last sample and each sighting
    (follow.py) its own sample, widened by half a sample period on each side (a sample stands for the time
    around it); spans that overlap, or are at most ``bridge_s`` apart, merge. A stretch counts only where it
    holds a kept track: sightings alone are around a track that was dropped as noise."""
    half = sample_s / 2
    spans = sorted([(max(0.0, tr.first_s - half), min(duration_s, tr.last_s + half), True) for tr in tracks]
                   + [(max(0.0, s.t - half), min(duration_s, s.t + half), False) for s in sightings])
    merged: list[tuple[float, float, bool]] = []
    for start, end, kept in spans:
        if merged and start <= merged[-1][1] + bridge_s + 1e-6:
            a, b, had = merged[-1]
            merged[-1] = (a, max(b, end), had or kept)
        else:
            merged.append((start, end, kept))
    return [(round(a, 3), round(b, 3)) for a, b, kept in merged if kept]
