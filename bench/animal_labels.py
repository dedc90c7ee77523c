"""Animal labels against the ground truth: which species each second of the bench's clips is named as.

Part of bench/quality.py, on the hits it sampled: the stage's tracks at its defaults, then the second
look (video_worker.second_look) view by view and the naming rule (animal_tracks.Naming) over a grid, so
that what each view adds and where the thresholds come from are measured on the same detections. A
second counts once per clip frame: on screen (footage.py's ground truth), found (inside the timeline),
named right, named as another species (wrong), or shown as "animal".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import footage

from video_contract.manifests import UNSURE_ANIMAL
from video_worker import animal_tracks, follow, second_look
from video_worker.animal_tracks import ANIMALS, Hit, Naming, Track
from video_worker.settings import worker_settings

SHARES = (0.5, 0.6, 0.7, 0.8, 0.9)
MIN_VOTES = (0.5, 1.0, 1.5, 2.0)
BRIDGES = (0.0, 0.5, 1.0, 2.0, 3.0)
FOLLOWS = (0.0, 1.0, 2.0, 3.0)  # follow windows, seconds (video_worker.follow)
FOLLOW_S = worker_settings().detect_follow_s  # the stage's
VIEW_SETS = {"none": (), **{v.name: (v,) for v in second_look.VIEWS}, "both": second_look.VIEWS}


@dataclass
class Clip:
    """One clip's sampled hits at the stage's defaults, and the frames they were found on."""

    name: str
    truth: list[float]  # per frame of the clip: how much of the animal shows
    species: str | None  # what the animal is (a COCO class or not), None where there is none
    fps: float
    duration: float
    rate: float  # the stage's sampling rate, frames per second
    tracks: list[Track]  # at the stage's defaults, without looks
    frame_path: Any  # (sampled frame index) -> Path of that frame's JPEG
    sampled: int  # frames at the stage's rate
    hit_frames: frozenset[int]  # those with a hit at the stage's floor
    looks: dict[tuple[int, int], dict[str, list[Hit]]] = field(default_factory=dict)  # (track, frame) -> view
    seen: dict[int, list[Hit]] = field(default_factory=dict)  # frame without a hit -> what the follow view saw

    def sightings(self, follow_s: float) -> list[Hit]:
        """The stage's follow (video_worker.follow) replayed over the follow view's reads of every frame."""
        return follow.sightings(((n, n, n in self.hit_frames) for n in range(self.sampled)),
                                lambda n, _: self.seen[n], follow.window(self.rate, follow_s))


@dataclass(frozen=True)
class Seconds:
    on: float = 0.0
    found: float = 0.0
    false: float = 0.0
    right: float = 0.0
    wrong: float = 0.0
    unsure: float = 0.0
    knowable: float = 0.0  # on screen, and the animal is one the model has a class for

    def __add__(self, other: Seconds) -> Seconds:
        return Seconds(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))


def look(clip: Clip, detect: second_look.Detect, names: dict[int, str]) -> None:
    """Every view of every track's clearest frames, kept per view so that view sets can be compared."""
    for n, track in enumerate(clip.tracks):
        for seen in second_look.clearest(track):
            frame = cv2.imread(str(clip.frame_path(seen.frame)))
            if frame is None:
                raise FileNotFoundError(clip.frame_path(seen.frame))
            clip.looks[n, seen.frame] = {view.name: second_look.look(detect, frame, seen, names, (view,))
                                         for view in second_look.VIEWS}


def follow_looks(clip: Clip, detect: second_look.Detect, names: dict[int, str]) -> None:
    """The follow view of every sampled frame without a hit, so that each follow window can be replayed."""
    for n in range(clip.sampled):
        if n not in clip.hit_frames:
            frame = cv2.imread(str(clip.frame_path(n)))
            if frame is None:
                raise FileNotFoundError(clip.frame_path(n))
            clip.seen[n] = follow.seen(detect, frame, n, round(n / clip.rate, 3), names)


def _looked(clip: Clip, follow_s: float) -> int:
    """How many frames the stage's follow view looks at on the clip with this window."""
    asked: list[int] = []

    def look(n: int, _: int) -> list[Hit]:
        asked.append(n)
        return clip.seen[n]

    follow.sightings(((n, n, n in clip.hit_frames) for n in range(clip.sampled)), look,
                     follow.window(clip.rate, follow_s))
    return len(asked)


def with_looks(clip: Clip, views: tuple[second_look.View, ...]) -> list[Track]:
    names = {v.name for v in views}
    return [Track(hits=track.hits, looks=[hit for (t, _), by_view in clip.looks.items() if t == n
                                          for name, hits in by_view.items() if name in names for hit in hits])
            for n, track in enumerate(clip.tracks)]


def seconds(clip: Clip, tracks: list[Track], naming: Naming, bridge_s: float,
            follow_s: float = FOLLOW_S) -> Seconds:
    """The clip's seconds by what the tracks, named by ``naming``, and the follow view show of them."""
    half = 1 / clip.rate / 2
    spans = animal_tracks.on_screen(tracks, 1 / clip.rate, clip.duration, bridge_s, clip.sightings(follow_s))
    return counted(clip, spans, [(tr.first_s - half, tr.last_s + half, tr.label(naming)) for tr in tracks])


def manifest_seconds(clip: Clip, manifest: dict[str, Any]) -> Seconds:
    """The clip's seconds by what a detect manifest (at the stage's default rate) shows of them: its timeline
    and its animals' labels."""
    half = 1 / clip.rate / 2
    spans = [(s["start_s"], s["end_s"]) for s in manifest["on_screen"]]
    return counted(clip, spans, [(a["first_s"] - half, a["last_s"] + half, a["label"]) for a in manifest["animals"]])


def counted(clip: Clip, spans: list[tuple[float, float]], labels: list[tuple[float, float, str]]) -> Seconds:
    """Each clip frame's second: on screen, inside a timeline span, and which labels cover it."""
    total = Seconds()
    step = 1 / clip.fps
    for n, share in enumerate(clip.truth):
        t = n / clip.fps
        on = footage.on_screen(share)
        inside = any(a <= t < b for a, b in spans)
        shown = {label for a, b, label in labels if a <= t < b}
        wrong = bool(share > 0 and shown - {UNSURE_ANIMAL, clip.species})
        total += Seconds(
            on=step * on, found=step * (inside and on), false=step * (inside and share == 0),
            right=step * (on and clip.species in shown and not wrong), wrong=step * wrong,
            unsure=step * (on and inside and not wrong and clip.species not in shown),
            knowable=step * (on and clip.species in ANIMALS))
    return total


def section(clips: list[Clip]) -> tuple[str, Naming, float]:
    """The tables, and the rule's choice of naming thresholds (with the stage's views) and of the bridge."""
    grid = []
    for view_name, views in VIEW_SETS.items():
        tracked = {c.name: with_looks(c, views) for c in clips}
        for share in SHARES:
            for min_votes in MIN_VOTES:
                naming = Naming(share, min_votes)
                per_clip = [seconds(c, tracked[c.name], naming, animal_tracks.BRIDGE_S) for c in clips]
                grid.append((view_name, naming, per_clip))
    # With the stage's views (both): no wrong-species second on any clip, the most named; on a tie the higher
    # thresholds, as strict as the bench allows without losing a named second.
    clean = [(sum(s.right for s in per), n.share, n.min_votes, n)
             for v, n, per in grid if v == "both" and all(s.wrong == 0 for s in per)]
    naming_picked = max(clean, key=lambda c: c[:3])[3] if clean else animal_tracks.NAMING

    def totals(per: list[Seconds]) -> Seconds:
        return sum(per, Seconds())

    rows = ["| second look | share | own votes | wrong-species s | named right s of knowable s | \"animal\" s |",
            "|---|--:|--:|--:|--:|--:|"]
    for v, n, per in grid:
        s = totals(per)
        mark = " **(default)**" if (v, n) == ("both", animal_tracks.NAMING) else ""
        rows.append(f"| {v}{mark} | {n.share:g} | {n.min_votes:g} | {s.wrong:.1f} "
                    f"| {s.right:.1f} of {s.knowable:.1f} ({s.right / max(s.knowable, 1e-9):.0%}) "
                    f"| {s.unsure:.1f} |")
    views_rows = ["| second look | wrong-species s | named right s | \"animal\" s | reads added |",
                  "|---|--:|--:|--:|--:|"]
    for v, n, per in grid:
        if n == naming_picked:
            s = totals(per)
            reads = sum(len(tr.looks) for c in clips for tr in with_looks(c, VIEW_SETS[v]))
            views_rows.append(f"| {v} | {s.wrong:.1f} | {s.right:.1f} | {s.unsure:.1f} | {reads} |")
    views = VIEW_SETS["both"]
    bridge_rows = ["| follow window s | bridge s | found s of on-screen s | least found on a clip | false s "
                   "| follow looks |", "|--:|--:|--:|--:|--:|--:|"]
    coverage = []
    for follow_s in FOLLOWS:
        looked = sum(_looked(c, follow_s) for c in clips)
        for bridge in BRIDGES:
            per = [seconds(c, with_looks(c, views), naming_picked, bridge, follow_s) for c in clips]
            s, least = totals(per), min(p.found / p.on for p in per if p.on)
            coverage.append((s.false == 0, least, s.found, -follow_s, -bridge, follow_s, bridge))
            mark = " **(default)**" if (follow_s, bridge) == (FOLLOW_S, animal_tracks.BRIDGE_S) else ""
            bridge_rows.append(f"| {follow_s:g}{mark} | {bridge:g} | {s.found:.1f} of {s.on:.1f} "
                               f"({s.found / s.on:.0%}) | {least:.0%} | {s.false:.1f} | {looked} |")
    *_, follow_picked, bridge_picked = max(coverage)

    clip_rows = ["| clip | animal | on screen s | found s | false s | named right s | wrong species s "
                 "| \"animal\" s | shown as |", "|---|---|--:|--:|--:|--:|--:|--:|---|"]
    for c in clips:
        tracks = with_looks(c, VIEW_SETS["both"])
        s = seconds(c, tracks, animal_tracks.NAMING, animal_tracks.BRIDGE_S)
        shown = ", ".join(f"{tr.label()} {tr.first_s:g}-{tr.last_s:g} s" + (
            f" ({' or '.join(tr.candidates)}?)" if tr.label() == UNSURE_ANIMAL else "") for tr in tracks) or "none"
        clip_rows.append(f"| {c.name} | {c.species or 'none'} | {s.on:.1f} | {s.found:.1f} | {s.false:.1f} "
                         f"| {s.right:.1f} | {s.wrong:.1f} | {s.unsure:.1f} | {shown} |")
    text = f"""### Animal labels: a species only where the evidence agrees

Each clip's tracks at the stage's defaults, with the stage's second look (its views of each track's
{second_look.FRAMES} clearest frames: mirrored, and shrunk to {second_look.SHRINK:g} onto a grey canvas) and
naming rule (a species when its label has at least {animal_tracks.NAMING.share:g} of the track's votes and
{animal_tracks.NAMING.min_votes:g} of its own; else "animal"), and its timeline: the tracks and the
follow view's sightings (each frame without a hit within {FOLLOW_S:g} s of a sighting, shrunk onto a grey
canvas and looked at again: video_worker/follow.py), bridged over {animal_tracks.BRIDGE_S:g} s.
"Knowable" seconds are those on screen where the animal is one of the model's classes
(Big Buck Bunny's rabbit is not: any species named for it is wrong).

{chr(10).join(clip_rows)}

**Each threshold, with and without the second look**, all clips together:

{chr(10).join(rows)}

How they are chosen: with the stage's views, among the settings with no wrong-species second on any clip, the
one that names the most knowable seconds; on a tie the higher thresholds (as strict as these clips allow
without losing a named second). """ + (
        "**No setting avoids every wrong-species second.**" if not clean else
        f"The rule picks share {naming_picked.share:g} and own votes {naming_picked.min_votes:g}: " + (
            "the stage's defaults." if naming_picked == animal_tracks.NAMING else
            "**not** the stage's defaults; revisit them.")) + f"""

**What each view adds**, at those thresholds:

{chr(10).join(views_rows)}

**The timeline: the follow window and the bridge**, at those settings. Frames without a hit within the
window of a sighting get the follow view; spans closer than the bridge merge into one stretch on screen. "Least
found" is the lowest share of on-screen seconds found on any one clip; "follow looks" the extra inferences,
all clips together ({sum(c.sampled for c in clips)} frames sampled):

{chr(10).join(bridge_rows)}

The rule (no false second, then the highest least-found share, then the most found, then the shortest window
and bridge) picks a window of {follow_picked:g} s and a bridge of {bridge_picked:g} s: """ + (
        "the stage's defaults." if (follow_picked, bridge_picked) == (FOLLOW_S, animal_tracks.BRIDGE_S)
        else "**not** the stage's defaults; revisit them.") + "\n"
    return text, naming_picked, bridge_picked


def frame_paths(folder: Path, step: int) -> Any:
    """Sampled frame index at the stage's rate -> the JPEG bench/quality.py wrote at its base rate."""
    return lambda frame: folder / f"{frame * step:06d}.jpg"
