"""The site's pages from the Jinja templates in ``include/templates``, uploaded with the static files
they use: the video's page (``page``) and the site index (``site_index``).
"""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from video_pipeline.publishing import objects

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "include" / "templates"
PAGE = "index.html"  # every page's name: the video's in its folder, the site index at the site's root
HASH_CHARS = 12  # of a SHA-256 in a static file's ?v= or name: enough to tell its versions apart


def environment() -> Environment:
    """Autoescaping: titles, transcripts and labels are untrusted text."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(clock=clock, seek=seek)
    return env


def render(s3: Any, env: Environment, template: str, context: dict[str, object],
           bucket: str, page_key: str, *, statics: tuple[str, ...]) -> list[str]:
    """Upload the page and the static files it uses, next to it; their URLs change with their content.
    The keys, the page's last."""
    folder = posixpath.dirname(page_key)
    files = {name: (TEMPLATES / name).read_bytes() for name in statics}
    assets = {name: f"{name}?v={content_hash(body)}" for name, body in files.items()}
    html = env.get_template(template).render(**context, assets=assets)
    keys = [objects.put(s3, bucket, posixpath.join(folder, name), body) for name, body in files.items()]
    return [*keys, objects.put(s3, bucket, page_key, html.encode("utf-8"))]


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:HASH_CHARS]


def href(key: str, start: str) -> str:
    """The URL of ``key`` relative to the folder ``start``."""
    return quote(posixpath.relpath(key, start))


def clock(seconds: float) -> str:
    """Seconds as players show them: ``0:07``, ``12:03``, ``1:02:03``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def seek(seconds: float) -> str:
    """A ``data-seek`` value: millisecond precision, no trailing zeros (``12.5``)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
