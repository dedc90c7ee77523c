"""A local webhook receiver for the demo and the tests: it verifies each delivery's signature as
docs/notifications.md tells receivers to, and keeps what came.

    python scripts/webhook_receiver.py --port 5002 --secret-file .airflow/webhook-secret --record deliveries.jsonl

``POST /events`` answers 204 to a delivery whose signature verifies (400 otherwise) and appends a line to
the record file: when, the answer, and the event. ``GET /events`` lists the lines. With ``--fail-first N``
it answers 500 to the first N deliveries of each event, to show the sender's retries. The secret comes from
a file, never the command line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from video_pipeline.webhook_signature import HEADER, SignatureError, verify

MAX_BODY = 64 * 1024  # an event is well under 1 KiB


def app(*, secret: str, record: Path, fail_first: int = 0) -> Starlette:
    tries: Counter[str] = Counter()  # deliveries of each event id so far

    def keep(line: dict[str, Any]) -> None:
        with record.open("a") as out:
            out.write(json.dumps(line) + "\n")

    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            verify(secret, request.headers.get(HEADER, ""), body, time.time())
        except SignatureError as refused:
            keep({"at": _now(), "answer": 400, "error": str(refused)})
            return JSONResponse({"error": str(refused)}, status_code=400)
        event = json.loads(body)
        tries[event["id"]] += 1
        answer = 500 if tries[event["id"]] <= fail_first else 204
        keep({"at": _now(), "answer": answer, "event": event})
        return Response(status_code=answer)

    async def listing(_: Request) -> JSONResponse:
        lines = record.read_text().splitlines() if record.is_file() else []
        return JSONResponse([json.loads(line) for line in lines])

    return Starlette(routes=[Route("/events", receive, methods=["POST"]), Route("/events", listing, methods=["GET"])])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-file", type=Path, required=True, help="a file holding the webhook secret")
    parser.add_argument("--record", type=Path, required=True, help="where deliveries are appended, a JSON line each")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to the first N deliveries of an event")
    args = parser.parse_args()
    secret = args.secret_file.read_text().strip()
    uvicorn.run(app(secret=secret, record=args.record, fail_first=args.fail_first), host="127.0.0.1",
                port=args.port, log_level="info")


if __name__ == "__main__":
    main()
