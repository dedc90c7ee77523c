"""The site's search index: static JSON that publish keeps current, so searching needs no server.

- ``search/index.json``: every published video's title, page, poster, language, animals (with
  when each first shows) and the titles of its chapters that come from its speech (with when each
  starts). A few hundred bytes a video: titles, animals and chapters are searched from it.
- ``search/terms/<xx>.json``: the words said in the videos, sharded by their first two letters,
  each word listing ``[video id, cue number]`` pairs. A query fetches only its words' shards.
- ``videos/<id>/search.json``: that video's cues (start second and text), fetched only for the
  videos a query found, to show the matching line.

Words are folded as the page's search.js folds what is typed: lower case, accents removed, split on
anything that is not a letter or digit. Publish is the one writer (one publish task at a time), so
read-modify-write of a shard is safe; a video's earlier postings are removed before its new ones go in.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from typing import Any

INDEX = "search/index.json"
SHARDS = "search/terms/"
DOC = "search.json"  # in each video's folder
MIN_TERM = 2
WORD = re.compile(r"\w+")
SHARD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
Posting = list[str | int]  # [video id, cue number]: a pair as the JSON holds it
Shard = dict[str, list[Posting]]  # word -> where it is said


def fold(text: str) -> str:
    """Lower case without accents: ``Élève`` -> ``eleve``."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms(text: str) -> list[str]:
    return [word for word in WORD.findall(fold(text)) if len(word) >= MIN_TERM]


def shard(term: str) -> str:
    """The shard a word lives in: its first two letters, ``_`` for any other character."""
    return "".join(c if c in SHARD_CHARS else "_" for c in term[:2])


def postings(video_id: str, cues: list[tuple[float, str]]) -> dict[str, Shard]:
    """shard -> word -> [[video id, cue number], ...] for one video, each cue listed once per word."""
    found: dict[str, dict[str, list[Posting]]] = defaultdict(lambda: defaultdict(list))
    for number, (_, text) in enumerate(cues):
        for term in dict.fromkeys(terms(text)):
            found[shard(term)][term].append([video_id, number])
    return {key: dict(words) for key, words in found.items()}


def merged(current: Shard, video_id: str, new: Shard) -> Shard:
    """A shard without ``video_id``'s earlier postings, with its new ones; words left with none are dropped."""
    out = {term: [p for p in pairs if p[0] != video_id] for term, pairs in current.items()}
    for term, pairs in new.items():
        out.setdefault(term, []).extend(pairs)
    return {term: pairs for term, pairs in sorted(out.items()) if pairs}


def entry(item: dict[str, Any], href: str, poster: str | None) -> dict[str, Any]:
    """What index.json holds of one video (hrefs relative to the site's root)."""
    first: dict[str, float] = {}
    for animal in item.get("animals") or []:
        first.setdefault(animal["label"], animal["first_s"])
    return {
        "title": item.get("title") or item["video_id"],
        "href": href,
        "poster": poster,
        "duration_s": item.get("duration_s"),
        "language": item.get("language_name") or item.get("language"),
        "animals": [[label, at] for label, at in sorted(first.items())],
        # "Chapter N" says nothing a search could look for
        "chapters": [[c["title"], c["start_s"]] for c in item.get("chapters") or [] if c.get("spoken")],
    }


def dumps(data: Any) -> bytes:
    """Compact JSON, non-ASCII kept as is (UTF-8): the index's bytes are what visitors download."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
