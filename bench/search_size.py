"""How large the site's search index gets: 1,000 one-minute videos, and what one query downloads.

The index is built with publish's own functions (plugins/video_pipeline/search_index.py) in memory.
The transcripts are synthetic but shaped like speech: 140 words a minute in cues of about 8 words,
each word drawn from real English prose (this repository's README, docs, BENCHMARKS and RELIABILITY) with
the frequency it has there, so common words, word lengths and first letters (which decide the
shards) are those of English. Titles are 30 characters and each video has two animals.
Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import gzip
import random
import re
import statistics
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from report import machine, write_section

from video_pipeline import search_index

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = (100, 1000)
WORDS_PER_VIDEO = 140  # a minute of speech
WORDS_PER_CUE = 8
SEED = 13


def vocabulary() -> Counter[str]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "BENCHMARKS.md", ROOT / "RELIABILITY.md"]
    text = " ".join(page.read_text() for page in pages)
    return Counter(w for w in re.findall(r"[A-Za-z][a-z']+", text) if len(w) > 1)


def build(count: int, counts: Counter[str]) -> tuple[dict[str, Any], dict[str, search_index.Shard], list[bytes]]:
    rng = random.Random(SEED)
    words, weights = zip(*counts.items())
    index: dict[str, Any] = {"videos": {}}
    shards: dict[str, search_index.Shard] = {}
    docs = []
    for n in range(count):
        video_id = f"{rng.getrandbits(64):016x}"
        said = rng.choices(words, weights, k=WORDS_PER_VIDEO)
        cues = [(round(i * 60 / (WORDS_PER_VIDEO / WORDS_PER_CUE), 3), " ".join(said[i:i + WORDS_PER_CUE]))
                for i in range(0, WORDS_PER_VIDEO, WORDS_PER_CUE)]
        item = {"video_id": video_id, "title": f"holiday clip {n:04d} from the park.mp4", "duration_s": 60.0,
                "language_name": "English", "animals": [{"label": "cat", "first_s": 3.5},
                                                        {"label": "dog", "first_s": 20.0}]}
        index["videos"][video_id] = search_index.entry(item, f"videos/{video_id}/index.html",
                                                       f"videos/{video_id}/poster.jpg")
        for key, postings in search_index.postings(video_id, cues).items():
            shards[key] = search_index.merged(shards.get(key, {}), video_id, postings)
        docs.append(search_index.dumps({"cues": cues, "shards": []}))
    return index, shards, docs


def kb(size: float) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 10 * 1024 else f"{size / 1024:,.1f} KB"


def main() -> None:
    counts = vocabulary()
    rows = ["| videos | index.json (gzip) | word shards: files, total | largest shard (gzip) | median shard "
            "| one video's cues | a query for \"the\" / \"cat\" / \"hole\" downloads (gzip) |",
            "|--:|--:|--:|--:|--:|--:|---|"]
    for count in VIDEOS:
        index, shards, docs = build(count, counts)
        index_bytes = search_index.dumps(index)
        shard_bytes = {key: search_index.dumps(words) for key, words in shards.items()}
        sizes = sorted(len(b) for b in shard_bytes.values())
        largest = max(shard_bytes.values(), key=len)
        queries = []
        for word in ("the", "cat", "hole"):
            shard = shard_bytes.get(search_index.shard(word), b"{}")
            zipped = len(gzip.compress(index_bytes)) + len(gzip.compress(shard))
            queries.append(f"{kb(len(index_bytes) + len(shard))} ({kb(zipped)})")
        rows.append(f"| {count:,} | {kb(len(index_bytes))} ({kb(len(gzip.compress(index_bytes)))}) "
                    f"| {len(shards)}, {kb(sum(sizes))} | {kb(len(largest))} ({kb(len(gzip.compress(largest)))}) "
                    f"| {kb(statistics.median(sizes))} | {kb(statistics.mean(len(d) for d in docs))} "
                    f"| {' / '.join(queries)} |")
        print(f"search size: {count} videos: index {len(index_bytes)} B, shards {sum(sizes)} B", file=sys.stderr)
    facts = machine()
    section = f"""
## Search index size

`bench/search_size.py`, {datetime.now(UTC).strftime('%Y-%m-%d')} ({facts['CPU']}): the site's static search
index as publish builds it (`search_index.py`), for one-minute videos with {WORDS_PER_VIDEO} words of speech
each (words drawn from real English prose with their frequencies there; see the script), a 30-character
title and two animals. A query downloads index.json (titles, pages and animals of every video) once, then
one word shard per word typed (every word said that starts with the same two letters), then the cues of
the videos it shows (at most 20). Sizes as served; S3 sends them uncompressed unless a CDN compresses,
so gzip is what a CDN in front would send.

{chr(10).join(rows)}

The word shards are the part that grows with speech; sharding them by first two letters keeps any one
query to index.json and a shard, whatever the number of videos. index.json grows by about
{len(search_index.dumps(build(1, counts)[0])) - len(search_index.dumps({'videos': {}})):,} bytes a video:
past some 10,000 videos (about 2 MB) it should be sharded too, by title word, as the transcripts are.
"""
    write_section(ROOT / "BENCHMARKS.md", "search-size", section)
    print("bench: wrote the search index size section of BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
