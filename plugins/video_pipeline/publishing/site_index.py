"""The site's front page (``index.html.j2``): every published video, newest first, rendered from the
catalog after each publish."""

from __future__ import annotations

from typing import Any

from video_pipeline import csp, search_index
from video_pipeline.catalog import VideoCatalog
from video_pipeline.config import Settings
from video_pipeline.publishing import templates

STATICS = ("style.css", "favicon.svg", "search.js")


def put(s3: Any, settings: Settings, catalog: VideoCatalog, fresh: dict[str, Any]) -> list[str]:
    """The site index from the catalog, with the published video's item (``fresh``) read back consistently.

    A DynamoDB scan may not see a write made a moment ago, so the fresh item replaces its scanned
    copy; it goes first so that it also wins a tie on the second it was published. The keys written.
    """
    others = [item for item in catalog.published()
              if item["video_id"] != fresh["video_id"] and item.get("page_key")]
    items = sorted([fresh, *others], key=lambda i: i.get("published_at", ""), reverse=True)
    context: dict[str, object] = {"videos": [entry(settings, item) for item in items], "search": search_index.INDEX,
                                  "csp": csp.policy(csp.SITE)}
    return templates.render(s3, templates.environment(), "index.html.j2", context, settings.bucket,
                            settings.site_prefix + templates.PAGE, statics=STATICS)


def entry(settings: Settings, item: dict[str, Any]) -> dict[str, Any]:
    """A published video as the site index and the search index show it, URLs relative to the site."""
    root = settings.site_prefix.rstrip("/") or "."
    poster = templates.href(item["poster_key"], root) if item.get("poster_key") else None
    return search_index.entry(item, templates.href(item["page_key"], root), poster)
