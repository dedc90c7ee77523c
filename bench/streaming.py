"""Packaging against the ladder it packages: time and bytes of the package stage, clear and encrypted.

The 60 s benchmark clip is transcoded (the default ladder, the top rung at 720p) and the
package stage then cuts that ladder into HLS and DASH, three times each way; the medians
are compared with the median transcode time. Appends its section to BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from clip import ensure_clip
from measure import measure
from report import write_section

ROOT = Path(__file__).resolve().parents[1]

REPEATS = 3
TARGET_SHARE = 0.10  # packaging under 10 % of the ladder's encode time


def median_run(name: str, argv: list[str], logs: Path) -> tuple[float, dict]:
    seconds, manifest = [], {}
    for attempt in range(REPEATS):
        m = measure(f"{name}-{attempt}", ["video-worker", *argv], logs, env=os.environ.copy())
        if m.returncode != 0:
            sys.exit(f"{name} failed: {m.stderr.read_text()[-2000:]}")
        seconds.append(m.seconds)
        manifest = m.manifest()
        print(f"bench: {name} {m.seconds:.2f} s", file=sys.stderr, flush=True)
    return statistics.median(seconds), manifest


def main() -> None:
    out = ROOT / "bench" / "out" / "packaging"
    clip = ensure_clip(ROOT / "bench" / "out", 60)
    key = out / "key.json"
    out.mkdir(parents=True, exist_ok=True)
    key.write_text(json.dumps({"key_id": "0" * 31 + "1", "key": os.urandom(16).hex()}))
    transcode_s, ladder = median_run("transcode", ["transcode", "--source", str(clip.path),
                                                   "--dest", str(out / "transcode")], out / "logs")
    source = ["--source", str(out / "transcode" / "manifest.json")]
    clear_s, clear = median_run("package", ["package", *source, "--dest", str(out / "clear")], out / "logs")
    encrypted_s, encrypted = median_run("package encrypted", ["package", *source, "--dest", str(out / "encrypted"),
                                                              "--key", str(key)], out / "logs")
    rows = []
    for label, seconds, manifest in (("clear", clear_s, clear), ("encrypted (CENC, ClearKey)", encrypted_s, encrypted)):
        share = seconds / transcode_s
        verdict = "pass" if share < TARGET_SHARE else "**miss**"
        rows.append(f"| {label} | {seconds:.2f} | {100 * share:.1f}% ({verdict}) | "
                    f"{manifest['size_bytes'] / 1e6:.2f} | {100 * manifest['size_overhead']:+.1f}% |")
    renditions = ", ".join(r["name"] for r in ladder["renditions"])
    section = f"""
## Packaging: HLS and DASH from the ladder

`bench/streaming.py`: the 60 s clip transcoded to the default ladder ({renditions}, AAC audio; median
{transcode_s:.2f} s over {REPEATS} runs), then `video-worker package` on that ladder ({REPEATS} runs each,
medians), measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the machine above.
Target: packaging under {TARGET_SHARE:.0%} of the ladder's encode time.

| package | seconds | share of the transcode time | bytes packaged (MB) | against the ladder's MP4s \
({ladder_mb(ladder):.2f} MB) |
|---|--:|--:|--:|--:|
{chr(10).join(rows)}

Packaging copies the coded frames (Shaka Packager, no re-encode), so its cost is reading and
writing the ladder once; encryption adds AES-CTR over the samples. The packaged bytes are below the
ladder's MP4s because every rendition MP4 carries the audio and the package stores it once; the
CMAF segment headers (moof, per-segment sample tables) cost the rest.
"""
    print(write_section(ROOT / "BENCHMARKS.md", "packaging", section))


def ladder_mb(ladder: dict) -> float:
    return sum(r["size_bytes"] for r in ladder["renditions"]) / 1e6


if __name__ == "__main__":
    main()
