"""Webhook deliveries: one event's body, signed, posted to each URL at once, retried, never raising.

A 5xx answer, a timeout or no connection is retried with exponential backoff; a 4xx is the receiver's
answer and is not (it would say the same again); a redirect is not followed (the URL is the operator's,
not wherever an answer points). Every URL has the same deadline, so one dead receiver costs the task
``deadline_s`` at most, and the others are not kept waiting behind it. What happened is a ``Delivery``,
which names the URL by its origin only: a URL's path or query may hold a token (Slack's do).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_before_delay, wait_exponential

from video_contract.records import Record
from video_pipeline import webhook_signature

log = logging.getLogger(__name__)

# The first retry waits BACKOFF_S, each next one twice as long, up to MAX_BACKOFF_S: a receiver that is
# restarting gets a few seconds, and with the default 4 attempts the waits are 0.5, 1 and 2 s.
BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
USER_AGENT = "video-pipeline-webhooks/1"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Delivery(Record):
    """One URL's delivery of one event, as the video's item records it."""

    KIND = "webhook delivery"
    origin: str  # scheme://host[:port] of the URL: never its path or query
    status_code: int | None  # the last answer's; None: no answer came (timeout, no connection)
    attempts: int
    delivered: bool  # a 2xx answer
    error: str | None  # why not, in a few words
    at: str  # when the last attempt ended (ISO 8601, UTC)


class _ServerError(Exception):
    """A 5xx answer: the receiver may take the event on a later attempt."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def deliver_all(urls: tuple[str, ...], *, body: bytes, headers: dict[str, str], secret: str, timeout_s: float,
                attempts: int, deadline_s: float) -> list[Delivery]:
    """Post ``body`` to every URL at once, each with its own retries, all within ``deadline_s``."""
    if not urls:
        return []
    deadline = time.monotonic() + deadline_s
    # httpx logs each request's whole URL at INFO, in the task's log: only our origin-only lines go there.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT}) as client, \
            ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="webhook") as pool:
        return list(pool.map(lambda url: deliver(client, url, body=body, headers=headers, secret=secret,
                                                 timeout_s=timeout_s, attempts=attempts, deadline=deadline),
                             urls))


def deliver(client: httpx.Client, url: str, *, body: bytes, headers: dict[str, str], secret: str, timeout_s: float,
            attempts: int, deadline: float) -> Delivery:
    """One URL's delivery, retried until a non-5xx answer, ``attempts`` or the ``deadline`` (monotonic)."""
    tries = 0

    def post() -> httpx.Response:
        nonlocal tries
        tries += 1
        signed = {**headers, "Content-Type": "application/json",
                  webhook_signature.HEADER: webhook_signature.sign(secret, body, int(time.time()))}
        left = deadline - time.monotonic()
        response = client.post(url, content=body, headers=signed, timeout=max(min(timeout_s, left), 0.001))
        if response.is_server_error:
            raise _ServerError(response)
        return response

    retrying = Retrying(
        stop=stop_after_attempt(attempts) | stop_before_delay(max(deadline - time.monotonic(), 0)),
        wait=wait_exponential(multiplier=BACKOFF_S, max=MAX_BACKOFF_S),
        retry=retry_if_exception_type((_ServerError, httpx.TransportError)),
        reraise=True,
    )
    status: int | None = None
    error: str | None = None
    try:
        response = retrying(post)
        status = response.status_code
        if not response.is_success:
            error = f"HTTP {status}"
    except _ServerError as failed:
        status, error = failed.response.status_code, str(failed)
    except httpx.HTTPError as failed:  # no answer: a timeout, a refused or broken connection
        error = type(failed).__name__
    delivery = Delivery(origin=origin(url), status_code=status, attempts=tries, delivered=error is None,
                        error=error, at=datetime.now(UTC).isoformat(timespec="seconds"))
    if delivery.delivered:
        log.info("webhook %s: delivered (HTTP %s, %d attempt(s))", delivery.origin, status, tries)
    else:
        log.warning("webhook %s: not delivered after %d attempt(s): %s", delivery.origin, tries, error)
    return delivery
