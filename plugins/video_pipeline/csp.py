"""The Content-Security-Policy of the pages: the published site's (a ``<meta>``, as S3 sets no header per
object) and the upload page's (a response header).

The pages have no inline script, style or event handler and load everything from their own origin, so
that is all a policy allows: markup slipped into a page runs nothing and sends nothing elsewhere. Each
page adds the one other place it talks to: an encrypted video's license endpoint, S3 for uploads.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

BASE = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'none'",
}
# The player plays the page's own files, and through Media Source Extensions from blob: URLs; Shaka
# Player gives each subtitle track an empty data: source (data:,WEBVTT) and adds the cues itself.
SITE = {**BASE, "media-src": "'self' blob: data:"}
# A header can also forbid framing the page (clickjacking); in a <meta> browsers ignore frame-ancestors.
UPLOAD = {**BASE, "frame-ancestors": "'none'"}
NOT_IN_A_SOURCE = re.compile(r"[\s;,'\"]")  # what would end the source or the directive


def source(url: str, setting: str) -> str:
    """``url`` (empty: none) as a source a policy can name; ValueError naming ``setting`` if it is not one."""
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.netloc or NOT_IN_A_SOURCE.search(url)):
        raise ValueError(f"{setting} {url!r} is not an http(s) URL that a Content-Security-Policy can name")
    return url


def policy(directives: dict[str, str], connect: str = "") -> str:
    """The header or ``<meta>`` value; ``connect`` (from ``source``) is one more place the page may fetch."""
    chosen = {**directives, "connect-src": f"{directives['connect-src']} {connect}".rstrip()}
    return "; ".join(f"{name} {sources}" for name, sources in chosen.items())
