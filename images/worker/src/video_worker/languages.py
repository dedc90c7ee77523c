"""Language codes and names, from the libraries that carry the standards rather than tables of our own.

Whisper reports ISO 639-1 codes (``fr``). MP4 stores ISO 639-2/T (``fra``), from
langcodes; players show a name, from CLDR through Babel. The manifests carry
these names on to the page, so the player's menu, the page and the downloads
agree. Subtitle tracks travel on command lines as ``LANG=URI``.
"""

from __future__ import annotations

import re

import langcodes
from babel import Locale, UnknownLocaleError

from video_worker.errors import UsageError

TRACK = re.compile(r"(?P<language>[a-z]{2,3}(?:-[A-Za-z0-9]+)?)=(?P<uri>.+)")


def name(code: str) -> str:
    """``fr`` -> ``French``; a code CLDR does not know stays as it is."""
    if code in ("", "und"):  # CLDR reads "und" as its most likely language
        return "Unknown language"
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name("en") or code
    except (UnknownLocaleError, ValueError):
        return code


def alpha3(code: str) -> str:
    """The ISO 639-2/T code MP4 stores (``fr`` -> ``fra``); ``und`` when there is none."""
    try:
        return langcodes.Language.get(code).to_alpha3() if code else "und"
    except (LookupError, ValueError):
        return "und"


def parse_track(spec: str) -> tuple[str, str]:
    """``fr=s3://bucket/subtitles.vtt`` -> (``fr``, the URI)."""
    match = TRACK.fullmatch(spec)
    if not match:
        raise UsageError(f"--subtitles {spec!r}: expected LANG=URI, e.g. en=subtitles.vtt")
    return match["language"], match["uri"]
