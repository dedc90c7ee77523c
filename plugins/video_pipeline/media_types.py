"""Content types by file name, the same on every host: Python's own table (not /etc/mime.types), with the
types it lacks or names otherwise: what the site serves (RFC 9239 for JavaScript) and the video files
an upload may be."""

from __future__ import annotations

import mimetypes

TYPES = mimetypes.MimeTypes()
for _type, _suffix in (
    ("application/dash+xml", ".mpd"), ("video/iso.segment", ".m4s"), ("application/x-subrip", ".srt"),
    ("text/javascript", ".js"),
    ("video/x-m4v", ".m4v"), ("video/x-matroska", ".mkv"), ("video/mp2t", ".ts"), ("video/mp2t", ".mts"),
    ("video/mp2t", ".m2ts"), ("application/mxf", ".mxf"), ("video/x-flv", ".flv"), ("video/x-ms-wmv", ".wmv"),
    ("video/ogg", ".ogv"), ("video/3gpp", ".3gp"),
):
    TYPES.add_type(_type, _suffix)


def guess(name: str) -> str | None:
    return TYPES.guess_type(name)[0]
