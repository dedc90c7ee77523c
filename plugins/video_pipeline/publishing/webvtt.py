"""WebVTT read back, for the two tracks that transcribe and previews write as WebVTT only: a
translation's subtitles (transcribe writes cues.json for the speech's own track alone) and the
storyboard's thumbnails track, whose cue text is a sprite and the tile's place in it.
"""

from __future__ import annotations

import html
import re

from video_contract.manifests import Cue

# A voice span around the whole cue, as transcribe writes a speaker: ``<v Speaker 1>...</v>``.
VOICE = re.compile(r"<v(?:\.[^ >]*)? ([^>]*)>(.*?)(?:</v>)?", re.DOTALL)


def cues(vtt: str) -> list[Cue]:
    """Each cue's times, text lines and speaker (its voice span); the worker escapes the text, so it is
    unescaped here."""
    found = []
    for block in vtt.replace("\r\n", "\n").split("\n\n"):
        lines = block.strip().splitlines()
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is not None and len(lines) > timing + 1:
            start, end = lines[timing].split("-->")
            text, speaker = "\n".join(lines[timing + 1:]), None
            if voice := VOICE.fullmatch(text):
                speaker, text = html.unescape(voice[1]).strip() or None, voice[2]
            found.append(Cue(start=seconds(start), end=seconds(end.split()[0]),
                             lines=[html.unescape(line) for line in text.split("\n")], speaker=speaker))
    return found


def seconds(stamp: str) -> float:
    """``01:02:03.500`` or ``02:03.500`` in seconds."""
    total = 0.0
    for part in stamp.strip().split(":"):
        total = total * 60 + float(part)
    return total
