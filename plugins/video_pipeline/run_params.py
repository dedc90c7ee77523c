"""What a run may be of, and how it may run: its params checked against the deployment's settings.

Whoever may trigger ``video_pipeline`` (the UI, the REST API, a trigger DAG) writes its params, and they
name the object the pipeline reads, copies to quarantine and publishes. The DAG's param schema refuses
what JSON schema can say when the run is created (``Sources.key_pattern``); ``register`` checks again
here before any S3 read, with what it cannot (bytes, the review the deployment asks for); the trigger
DAGs start no run for an object that ``register`` would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from video_pipeline.config import Settings

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
# C0, DEL and C1 control characters: never in a name that goes to logs, pages and command lines.
CONTROL = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL}]")
_PARENT = r"(?:.*/)?\.\.(?:/|$)"  # a ".." segment anywhere in a key
_SYNTAX = re.compile(r"([\\^$.|?*+()\[\]{}])")  # escaped as both Python and the browser's RegExp read it
OWN = ("work", "site", "keys", "quarantine")  # the pipeline's own prefixes: what runs write, and the keys


class RunParamError(ValueError):
    """A run param the deployment does not allow; the message names the value and what is allowed."""


@dataclass(frozen=True)
class Sources:
    """The buckets runs may read from, and the prefixes their videos' keys lie under."""

    buckets: tuple[str, ...]
    prefixes: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Sources:
        """SOURCE_BUCKETS (default: BUCKET) and SOURCE_PREFIXES (default: INCOMING_PREFIX), refused with the
        reason when a source prefix and one of the pipeline's own prefixes lie one under the other (a key
        under a source prefix is then never under those), or when uploads could not start runs."""
        buckets = settings.source_buckets or (settings.bucket,)
        prefixes = settings.source_prefixes or (settings.incoming_prefix,)
        for prefix in prefixes:
            for name in OWN:
                own = getattr(settings, f"{name}_prefix")
                if prefix.startswith(own) or own.startswith(prefix):
                    raise ValueError(f"source prefix {prefix!r} overlaps the {name} prefix {own!r}: runs never read "
                                     f"the pipeline's own objects (SOURCE_PREFIXES, {name.upper()}_PREFIX)")
            _check_name("source prefix", prefix)
        if settings.bucket not in buckets or not settings.incoming_prefix.startswith(prefixes):
            raise ValueError(f"SOURCE_BUCKETS {', '.join(buckets)} and SOURCE_PREFIXES {', '.join(prefixes)} must "
                             f"take bucket {settings.bucket!r} and its incoming prefix "
                             f"{settings.incoming_prefix!r}: uploads land there")
        return cls(buckets, prefixes)

    @property
    def key_pattern(self) -> str:
        """``video_key``'s JSON schema pattern: a name under a source prefix, no ``..`` segment, no control
        character (the byte length is register's to check)."""
        return self._pattern("+")

    @property
    def prefix_pattern(self) -> str:
        """A backfill's ``prefix``: a source prefix, or a longer one under it."""
        return self._pattern("*")

    def _pattern(self, rest: str) -> str:
        under = "|".join(_SYNTAX.sub(r"\\\1", prefix) for prefix in self.prefixes)
        return f"^(?!{_PARENT})(?:{under})[^{CONTROL}]{rest}$"

    def check(self, bucket: str, key: str) -> None:
        """A run's video: in a source bucket, a key under a source prefix."""
        self._check_bucket(bucket)
        _check_name("video_key", key)
        if not any(key.startswith(prefix) and key != prefix for prefix in self.prefixes):
            raise RunParamError(f"video_key {key!r} is not under a prefix runs may take: "
                                f"{', '.join(self.prefixes)} (SOURCE_PREFIXES)")

    def check_prefix(self, bucket: str, prefix: str) -> None:
        """A backfill's bucket and prefix: what it lists lies under a source prefix."""
        self._check_bucket(bucket)
        _check_name("prefix", prefix)
        if not prefix.startswith(self.prefixes):
            raise RunParamError(f"prefix {prefix!r} is not a prefix runs may take, nor one under it: "
                                f"{', '.join(self.prefixes)} (SOURCE_PREFIXES)")

    def _check_bucket(self, bucket: str) -> None:
        if bucket not in self.buckets:
            raise RunParamError(f"bucket {bucket!r} is not one runs may read from: {', '.join(self.buckets)} "
                                "(SOURCE_BUCKETS)")


def _check_name(what: str, name: str) -> None:
    if _CONTROL.search(name):
        raise RunParamError(f"{what} {name!r} has a control character")
    if ".." in name.split("/"):
        raise RunParamError(f"{what} {name!r} has a '..' segment")
    if (size := len(name.encode("utf-8", "surrogatepass"))) > MAX_KEY_BYTES:
        raise RunParamError(f"{what} {name!r} is {size} bytes long; S3 keys are at most {MAX_KEY_BYTES}")


def check_review(settings: Settings, params: Mapping[str, Any]) -> None:
    """Where caption review is the deployment's default (REVIEW=true), a run may ask for a stricter review,
    never a weaker one: not off, not a shorter wait, not publishing what nobody answered where that fails."""
    if not settings.review:
        return
    review, minutes, on_timeout = (params.get(name) for name in ("review", "review_timeout_minutes",
                                                                 "review_on_timeout"))
    if review is not None and review is not True:
        raise RunParamError(f"review {review!r} is refused: caption review is this deployment's default "
                            "(REVIEW=true)")
    if minutes is not None and float(minutes) < settings.review_timeout_minutes:
        raise RunParamError(f"review_timeout_minutes {minutes!r} is refused: with REVIEW=true a run may wait longer "
                            f"than {settings.review_timeout_minutes:g} minutes (REVIEW_TIMEOUT_MINUTES), not less")
    if settings.review_on_timeout == "fail" and on_timeout not in (None, "", "fail"):
        raise RunParamError(f"review_on_timeout {on_timeout!r} is refused: with REVIEW=true a review nobody answers "
                            "fails (REVIEW_ON_TIMEOUT=fail)")


def check_run(settings: Settings, sources: Sources, params: Mapping[str, Any]) -> None:
    """What register checks before it reads anything: the video it is of, then the review."""
    sources.check(params.get("bucket") or settings.bucket, params["video_key"])
    check_review(settings, params)
