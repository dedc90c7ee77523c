"""``video-worker STAGE --source URI --dest URI [options]``.

One process per stage, so the orchestrator can run it anywhere (a Docker
container on a GPU worker, or a local subprocess) and read one JSON line back.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from video_contract.exits import RESULT_FILE_VARIABLE, ExitCode, Failure, FailureKind, result_line, signal_name
from video_contract.manifests import MANIFEST, Manifest
from video_contract.stages import SUMMARIES, Stage
from video_worker import __version__
from video_worker.errors import ConfigError, InputError, SourceChanged, UsageError
from video_worker.ffmpeg import FFmpegError
from video_worker.storage import Location

log = logging.getLogger("video_worker")

EPILOG = """exit codes: 0 done; 1 failed, worth a retry (a media tool killed, out of
memory, included); 2 permanent input error ("input"), or the source changed since
the run pinned it with --source-etag ("changed"); 3 invalid options ("usage") or a
configuration error ("config": a tool such as ffprobe or the packager that cannot
be run). The last stdout line is JSON: the manifest, or {"error": ..., "permanent": ...,
"kind": "input" | "changed" | "usage" | "config" | "transient"}."""
# An entity tag's characters (RFC 9110 etagc: visible ASCII but the quote); S3's are hex and "-".
ETAG = re.compile(r"[\x21\x23-\x7e]{1,200}")


def _result(payload: dict[str, object]) -> None:
    """The last stdout line; also written to $VIDEO_WORKER_RESULT_FILE when that is set."""
    line = result_line(payload)
    if os.environ.get(RESULT_FILE_VARIABLE):
        Path(os.environ[RESULT_FILE_VARIABLE]).write_text(line)
    print(line)


def _fail(error: str, kind: FailureKind, stage: str | None) -> int:
    failure = Failure(error, kind, stage)
    _result(failure.to_json())
    return failure.exit_code


class _Parser(argparse.ArgumentParser):
    """Bad options end like every other failure: a JSON last line, here with exit 3."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.exit(_fail(f"{self.prog}: {message}", FailureKind.USAGE, None))


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """Only the chosen stage's module is imported: each stage loads only what it needs."""
    chosen = _chosen(argv)
    parser = _Parser(
        prog="video-worker",
        description="The media worker of video-pipeline: one command per stage.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, summary in SUMMARIES.items():
        stage = sub.add_parser(name, help=summary)
        if name != chosen:
            continue
        module = importlib.import_module(f"video_worker.{name}")
        stage.description = module.__doc__
        stage.formatter_class = argparse.RawDescriptionHelpFormatter
        stage.add_argument("--source", required=True, help="input video: s3://bucket/key or a path")
        stage.add_argument("--dest", required=True, help="output prefix: s3://bucket/prefix/ or a directory")
        stage.add_argument("--source-etag", type=_etag, metavar="ETAG",
                           help="read only this version of an s3:// source; if the object has changed "
                                "(replaced or deleted), exit 2 with kind \"changed\"")
        stage.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        module.add_arguments(stage)
        stage.set_defaults(module=module)
    return parser


def _chosen(argv: list[str]) -> Stage | None:
    return next((Stage(a) for a in argv if a in SUMMARIES), None)


def _etag(value: str) -> str:
    """The ETag without its quotes, as S3 lists it with or without them."""
    etag = value.strip('"')
    if not ETAG.fullmatch(etag):
        raise argparse.ArgumentTypeError(f"not an ETag: {value!r}")
    return etag


def run_stage(args: argparse.Namespace) -> Manifest:
    """Fetch the source, run the stage in a scratch directory, publish its outputs."""
    dest = Location(args.dest)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"video-worker-{args.stage}-") as tmp:
        workdir = Path(tmp)
        source = Location(args.source).download(workdir, etag=args.source_etag)
        out = workdir / "out"
        out.mkdir()
        made: Manifest = args.module.run(args, source=source, out=out, workdir=workdir)
        manifest = dataclasses.replace(made, source=args.source, dest=args.dest,
                                       seconds=round(time.monotonic() - started, 3),
                                       cpu_seconds=round(_cpu_seconds(), 3))
        (out / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2))
        return dataclasses.replace(manifest, artifacts=dest.upload_tree(out))


def _cpu_seconds() -> float:
    """CPU time of this process and of the tools it ran and waited for, from its start."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except ConfigError as exc:  # a VIDEO_WORKER_* setting that an option's default comes from
        print(f"video-worker: configuration error: {exc}", file=sys.stderr)
        return _fail(str(exc), FailureKind.CONFIG, _chosen(argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        manifest = run_stage(args)
    except InputError as exc:
        if killed := _killed_tool(exc):  # the tool died (out of memory?); the input may be fine
            log.error("stage %s failed: %s (not an input error: retried)", args.stage, killed)
            return _fail(killed, FailureKind.TRANSIENT, args.stage)
        log.error("permanent input error in %s: %s", args.stage, exc)
        return _fail(str(exc), FailureKind.INPUT, args.stage)
    except SourceChanged as exc:
        log.error("stage %s stopped: %s", args.stage, exc)
        return _fail(str(exc), FailureKind.CHANGED, args.stage)
    except UsageError as exc:
        log.error("invalid options for %s: %s", args.stage, exc)
        return _fail(str(exc), FailureKind.USAGE, args.stage)
    except ConfigError as exc:
        log.error("configuration error in %s: %s", args.stage, exc)
        return _fail(str(exc), FailureKind.CONFIG, args.stage)
    except Exception as exc:  # noqa: BLE001 - any other failure is worth a retry
        log.exception("stage %s failed", args.stage)
        return _fail(_killed_tool(exc) or f"{type(exc).__name__}: {exc}", FailureKind.TRANSIENT, args.stage)
    _result(manifest.to_json())
    return ExitCode.OK


def _killed_tool(exc: BaseException) -> str | None:
    """Why a media tool died, when ``exc`` is, or comes from, a tool that a signal ended; else None.

    A stage that reads a tool's failure as the input's fault (probe: "not a video ffmpeg can read")
    must not quarantine a video because the tool ran out of memory.
    """
    seen: BaseException | None = exc
    for _ in range(8):  # a chain, not a cycle; and never a long one
        if seen is None:
            break
        if isinstance(seen, FFmpegError) and seen.returncode < 0:
            tool = Path(seen.cmd[0]).name if seen.cmd else "the tool"
            return (f"{tool} was killed by signal {-seen.returncode} ({signal_name(-seen.returncode)}; "
                    f"out of memory, or stopped){': ' + seen.stderr_tail if seen.stderr_tail else ''}")
        seen = seen.__cause__ or seen.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
