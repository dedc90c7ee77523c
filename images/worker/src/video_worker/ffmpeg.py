"""The single subprocess wrapper for the media tools: ffmpeg, ffprobe and Shaka Packager."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from video_worker.errors import ConfigError
from video_worker.settings import worker_settings

log = logging.getLogger(__name__)

STDERR_TAIL_CHARS = 2000
# Key material in a command line: never logged, even at DEBUG.
SECRET = re.compile(r"((?:\b|_)key[=:\s]\s*'?)[0-9A-Fa-f]{16,}")

# The demuxers ffmpeg may read an input with, whatever its name or content says: the containers
# videos come in (sniff's media signatures, VIDEO_PIPELINE_VIDEO_EXTENSIONS), the audio-only ones that
# probe names in its reasons, and GIF/APNG (an animated one is a video). None opens anything but the
# file itself. Left out, because they open the files, devices or URLs their input names: hls, dash,
# concat, imf, sdp/rtp/rtsp, image2 (a name with %d or * reads a series of local files), lavfi, ...
# ffmpeg matches any one of a demuxer's names ("mov" stands for "mov,mp4,m4a,3gp,3g2,mj2").
MEDIA_FORMATS = (
    "mov", "matroska", "avi", "mpegts", "mpeg", "flv", "asf", "mxf", "ogg", "wav", "yuv4mpegpipe",
    "mp3", "flac", "aac", "ac3", "eac3", "aiff", "amr", "w64", "caf", "wv", "ape",
    "gif", "apng",
)
# Inputs are local files: no network, data:, subfile: or concat: protocol.
PROTOCOLS = ("file",)
# ffmpeg's log prefix names the demuxer it chose when the allow-list refuses it (5.1: "[hls @ 0x...]").
REFUSED = re.compile(r"\[([\w,]+) @ 0x[0-9a-f]+\] Format not on whitelist")


class FFmpegError(RuntimeError):
    """ffmpeg or ffprobe exited non-zero; carries the tail of its stderr."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr_tail = stderr[-STDERR_TAIL_CHARS:].strip()
        super().__init__(f"{Path(cmd[0]).name} exited {returncode}: {self.stderr_tail}")

    @property
    def refused_format(self) -> str | None:
        """The demuxer that the allow-list refused for the input, when ffmpeg's message names it."""
        match = REFUSED.search(self.stderr_tail)
        return match.group(1) if match else None


def run(
    args: Sequence[str | Path],
    *,
    tool: str = "ffmpeg",
    capture_stdout: bool = False,
    cwd: Path | None = None,
) -> bytes:
    """Run ffmpeg/ffprobe (or ``tool``) quietly, log the command, raise FFmpegError on failure.

    ``tool="ffmpeg"`` runs the worker's ffmpeg (VIDEO_WORKER_FFMPEG); ffprobe is the one on PATH.
    Returns stdout when ``capture_stdout`` (raw frames, JSON), else ``b""``.
    """
    stdout, _ = _execute(_command(tool, args), capture_stdout=capture_stdout, cwd=cwd)
    return stdout


def run_for_log(args: Sequence[str | Path], *, cwd: Path | None = None) -> str:
    """Run ffmpeg like ``run`` but at log level ``info``, and return its log (stderr).

    Analysis filters (loudnorm, ebur128) print what they measured there, at that level.
    """
    _, stderr = _execute(_command("ffmpeg", ["-nostats", *args], loglevel="info"), capture_stdout=False, cwd=cwd)
    return stderr


def _execute(cmd: list[str], *, capture_stdout: bool, cwd: Path | None) -> tuple[bytes, str]:
    """(stdout or ``b""``, stderr) of ``cmd``; FFmpegError when it fails."""
    try:
        proc = subprocess.run(
            cmd,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=cwd,
            check=False,
        )
    except OSError as exc:
        _starting(cmd[0], exc, cwd)
        raise
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise FFmpegError(cmd, proc.returncode, stderr)
    if stderr.strip():
        log.debug("%s stderr: %s", Path(cmd[0]).name, stderr[-STDERR_TAIL_CHARS:])
    return (proc.stdout if capture_stdout else b""), stderr


def _command(tool: str, args: Sequence[str | Path], *, loglevel: str = "error") -> list[str]:
    quiet = ["-nostdin", "-loglevel", loglevel, "-y"] if tool == "ffmpeg" else []
    banner = ["-hide_banner"] if tool in ("ffmpeg", "ffprobe") else []
    given = [str(a) for a in args]
    if tool == "ffmpeg":
        given = _inputs_allow_listed(given)
    elif tool == "ffprobe":
        given = [*_missing(allow_lists(), given), *given]
    cmd = [worker_settings().ffmpeg_command if tool == "ffmpeg" else tool, *banner, *quiet, *given]
    log.debug("running: %s", redact(shlex.join(cmd)))
    return cmd


def allow_lists(formats: Sequence[str] = MEDIA_FORMATS) -> list[str]:
    """Input options: open the next input only with these demuxers, and only as a local file.

    Every input gets MEDIA_FORMATS unless its options name others: only a file that the pipeline
    wrote itself may be read otherwise (the subtitles it made, its storyboard thumbnails).
    """
    return ["-format_whitelist", ",".join(formats), "-protocol_whitelist", ",".join(PROTOCOLS)]


def _inputs_allow_listed(args: list[str]) -> list[str]:
    """``args`` with the allow-lists before each ``-i`` whose own options do not set them."""
    cmd: list[str] = []
    since = 0  # an input's options start after the previous input
    for i, arg in enumerate(args):
        if arg == "-i":
            cmd += _missing(allow_lists(), args[since:i])
            since = i + 2
        cmd.append(arg)
    return cmd


def _missing(options: list[str], given: list[str]) -> list[str]:
    """The (name, value) pairs of ``options`` whose name is not among ``given``."""
    pairs = zip(options[::2], options[1::2])
    return [item for name, value in pairs if name not in given for item in (name, value)]


# Why a tool cannot be started that retrying cannot fix: not there, not executable, not for this machine.
_NOT_RUNNABLE = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.ENOTDIR})


def _starting(tool: str, exc: OSError, cwd: Path | None) -> None:
    """A tool that cannot be started is a configuration error (exit 3), not a retry.

    Other OSErrors (out of memory, too many processes) and a missing ``cwd`` stay what they are.
    The packager and ffmpeg are settings (VIDEO_WORKER_PACKAGER, VIDEO_WORKER_FFMPEG); ffprobe is found on PATH.
    """
    if exc.errno not in _NOT_RUNNABLE or (cwd is not None and exc.filename in (str(cwd), cwd)):
        return
    reason = exc.strerror or type(exc).__name__
    where = "" if os.sep in tool else f"; it is not on PATH ({os.environ.get('PATH', '')})"
    settings = worker_settings()
    configured = {settings.packager: ("Shaka Packager", "VIDEO_WORKER_PACKAGER"),
                  settings.ffmpeg_command: ("ffmpeg", "VIDEO_WORKER_FFMPEG")}
    if tool in configured:
        name, variable = configured[tool]
        raise ConfigError(f"{name} ({tool!r}) cannot be run: {reason}{where}; set {variable} to its path") from exc
    raise ConfigError(f"{tool} cannot be run: {reason}{where}; install it, or put its directory on PATH") from exc


def redact(text: str) -> str:
    """Key material (``key=<hex>``, ffmpeg's ``-decryption_key <hex>``) replaced by ``***``."""
    return SECRET.sub(r"\1***", text)


def stream_frames(args: Sequence[str | Path], frame_bytes: int, *,
                  cwd: Path | None = None) -> Generator[bytes, None, None]:
    """Run ffmpeg writing raw frames to stdout and yield them one at a time.

    ``run(capture_stdout=True)`` would hold every frame of a long video in memory.
    Raises FFmpegError like ``run`` once the frames run out; stopping early kills ffmpeg.
    """
    cmd = _command("ffmpeg", args)
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd)
        except OSError as exc:
            _starting(cmd[0], exc, cwd)
            raise
        stdout = proc.stdout
        assert stdout is not None  # stdout=PIPE
        try:
            while len(frame := stdout.read(frame_bytes)) == frame_bytes:
                yield frame
        except BaseException:  # the consumer stopped early or failed: ffmpeg's work is moot
            proc.kill()
            raise
        finally:
            stdout.close()
            returncode = proc.wait()
        if returncode != 0:
            stderr.seek(0)
            raise FFmpegError(cmd, returncode, stderr.read().decode("utf-8", "replace"))


def ffprobe_json(path: Path, *extra: str) -> dict[str, Any]:
    """ffprobe's format and streams as a dict."""
    out = run(
        ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", *extra, path],
        tool="ffprobe",
        capture_stdout=True,
    )
    info: dict[str, Any] = json.loads(out or b"{}")
    return info
