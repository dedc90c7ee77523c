"""The fault suite's stack: moto server that can be killed and brought back, and markers that make a
transcode stall or hang once.

moto keeps S3, DynamoDB and SQS in memory, so a killed moto would come back empty, as no real S3
does. Its recorder keeps every request in a file; started again, it replays them and has its
state back, and the pipeline finds what it left. Not the local stack's store (scripts/moto_store.py): a
SIGKILL loses its last second of writes, and this fault is S3 unreachable, not S3 losing what it
acknowledged. The recorder's faults (multipart parts interleaved) need uploads over 8 MB; these clips are 12 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from helpers import wait_until
from processes import answers

BUCKET, TABLE, QUEUE = "faults-media", "faults-videos", "faults-uploads"
PIPELINE = "video_pipeline"
# What the runs that the tests trigger themselves do: the stages the faults hit, and publish.
LIGHT = {"transcribe": False, "detect": False, "previews": False, "burn": False}
# An ffmpeg in front of the real one: the transcode that finds a marker stalls 20 s (a window in which to
# inject a fault mid-stage) or hangs, and writes its worker's pid where the marker was.
FFMPEG_WRAPPER = """#!/bin/sh
if ps -o args= -p "$PPID" | grep -q "video-worker transcode"; then
  if mv "{dir}/hang-once" "{dir}/hung" 2>/dev/null; then echo "$PPID" > "{dir}/hung"; exec sleep 3600; fi
  if mv "{dir}/stall-once" "{dir}/stalled" 2>/dev/null; then echo "$PPID" > "{dir}/stalled"; sleep 20; fi
fi
exec {ffmpeg} "$@"
"""


class MotoServer:
    """``python -m moto.server`` with its recorder on: SIGKILL it, start it again, replay its state."""

    def __init__(self, home: Path, port: int) -> None:
        self.port, self.endpoint = port, f"http://127.0.0.1:{port}"
        self.log, self.recording = home / "moto.log", home / "moto-recording.jsonl"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": str(self.recording)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                         env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: answers(f"{self.endpoint}/moto-api/") is not None, 60, "moto server answers", 0.5)

    def kill(self) -> None:
        assert self.proc is not None, "started"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def restart(self) -> float:
        """Start again and replay every recorded request; returns the seconds the replay took."""
        self.start()
        began = time.monotonic()
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/recorder/replay-recording",
                                                      method="POST"), timeout=600).read()
        return time.monotonic() - began


class Faults:
    """Markers that the ffmpeg wrapper obeys, once each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def arm(self, kind: str) -> None:
        (self.folder / kind).unlink(missing_ok=True)
        (self.folder / {"stall-once": "stalled", "hang-once": "hung"}[kind]).unlink(missing_ok=True)
        (self.folder / kind).write_text("armed")

    def triggered(self, kind: str, timeout_s: float = 300) -> int:
        """The pid of the worker that hit the fault, once it has."""
        done = self.folder / {"stall-once": "stalled", "hang-once": "hung"}[kind]
        return int(wait_until(lambda: done.is_file() and done.read_text().strip(), timeout_s,
                              f"a transcode hit {kind}", 0.5))


def quoted(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")
