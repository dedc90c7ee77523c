"""A bounded fuzz run of the code that parses uploads besides ffmpeg (issue 23).

``sniff`` (identify, ebml_doctype, mp4_boxes, mp4_truncation) reads every upload's raw bytes before
ffmpeg does; probe's helpers read ffprobe's JSON and packet lines, whose strings (tags) the file
chooses. The seeds are the real files of the input corpus (tests/worker/test_corpus.py, every kind),
and ffprobe's output on them; hypothesis mutates them (bytes flipped, overwritten with box sizes,
inserted, cut, spliced, control characters; ffprobe's values replaced by others of the kind ffprobe
prints, tags by any text). The run is fixed: derandomized, a set number of inputs per target, each
under a CPU-time bound. No exception may come out but a documented ``InputError``; the figures
(inputs, crashes, hangs, seconds) go to test-artifacts/fuzz.md, and each crash's input to
test-artifacts/fuzz-crashes/.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from video_worker import ffmpeg, probe, sniff
from video_worker.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CRASHES = ARTIFACTS / "fuzz-crashes"
# Inputs per target: together about a minute on 2 cores.
EXAMPLES = {"bytes": 4000, "ffprobe-json": 3000, "packet-lines": 1500}
# CPU seconds one input may take in one target before it counts as a hang (they take milliseconds).
PER_INPUT_S = 2.0
KINDS = {"text", "document", "image", "media", "unknown"}
FUZZ = settings(database=None, derandomize=True, deadline=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck))


def _corpus():
    spec = importlib.util.spec_from_file_location("input_corpus", ROOT / "tests" / "worker" / "test_corpus.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module.CORPUS


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    info: dict  # ffprobe's format and streams, {} where it opens nothing
    packets: str  # ffprobe's packet lines, "" where it opens nothing


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[Seed]:
    made = []
    for kind in _corpus():
        tmp = tmp_path_factory.mktemp(kind.name.replace("%", "pct"))
        path = tmp / kind.file
        kind.make(path, tmp)
        try:
            info, packets = ffmpeg.ffprobe_json(path), probe._packet_lines(path)
        except ffmpeg.FFmpegError:
            info, packets = {}, ""
        made.append(Seed(kind.name, path.read_bytes(), info, packets))
    return made


class Hang(BaseException):
    """An input ran past PER_INPUT_S of CPU time (BaseException: no ``except Exception`` swallows it)."""


@dataclass
class Figures:
    inputs: int = 0
    crashes: dict[str, str] = field(default_factory=dict)  # where and what -> the saved input
    hangs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


FIGURES: dict[str, Figures] = {}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    _write_report()


def _raise_hang(signum, frame):
    raise Hang()


def check(figures: Figures, target: str, call: Callable[[], Any], saved: Callable[[Path], None],
          allowed: type[Exception] | tuple = ()) -> Any:
    """Run one target on one input within the CPU bound; record a crash or a hang, with its input."""
    previous = signal.signal(signal.SIGPROF, _raise_hang)
    signal.setitimer(signal.ITIMER_PROF, PER_INPUT_S)
    try:
        return call()
    except allowed:
        return None
    except Hang:
        _record(figures.hangs, target, f"over {PER_INPUT_S} CPU s", saved, figures)
    except Exception as exc:  # noqa: BLE001 - any other exception is what the fuzzer looks for
        frame = next((f for f in reversed(traceback.extract_tb(exc.__traceback__))
                      if "video_worker" in f.filename), traceback.extract_tb(exc.__traceback__)[-1])
        _record(figures.crashes, target, f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno} "
                f"({frame.name}): {str(exc)[:200]}", saved, figures)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    return None


def _record(found: dict[str, str], target: str, problem: str, saved: Callable[[Path], None],
            figures: Figures) -> None:
    """The first input of each distinct crash (exception and line) or hang is kept."""
    what = f"{target}: {problem.split(': ')[0]}"
    if what in found:
        return
    CRASHES.mkdir(parents=True, exist_ok=True)
    path = CRASHES / f"{target.replace(' ', '-')}-{len(figures.crashes) + len(figures.hangs):03d}"
    saved(path)
    found[what] = f"{problem}; input {path.relative_to(ROOT)}.*"


# --- bytes: sniff's parsers on mutated corpus files -------------------------------------------------

INTERESTING_BYTES = [0x00, 0x01, 0x1A, 0x47, 0x7F, 0x80, 0xFF]
TOKENS = [b"#EXTM3U\n", b"<MPD ", b"ffconcat version 1.0\n", b"\x1a\x45\xdf\xa3", b"\x42\x82\x84webm",
          b"ftyp", b"moov", b"mdat", b"moof", b"\x00\x00\x00\x01", b"RIFF", b"\xef\xbb\xbf", b"\xff\xfe"]


@st.composite
def mutated_bytes(draw, seeds: list[Seed]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)).data)
    for _ in range(draw(st.integers(1, 6))):
        size = len(data)
        # Mostly where the parsers look (the first 8 KB, box headers), sometimes anywhere.
        at = draw(st.one_of(st.integers(0, min(size, 64)), st.integers(0, min(size, sniff.HEAD_BYTES)),
                            st.integers(0, size)))
        op = draw(st.sampled_from(["flip", "byte", "size", "insert", "delete", "cut", "splice", "controls",
                                   "token"]))
        if op == "flip" and at < size:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < size:
            data[at] = draw(st.one_of(st.sampled_from(INTERESTING_BYTES), st.integers(0, 255)))
        elif op == "size":  # a 32- or 64-bit length: box and element sizes
            value = draw(st.sampled_from([0, 1, 7, 8, 9, 16, size, size - at, 2**31 - 1, 2**32 - 1, 2**63]))
            width = 8 if value >= 2**32 else 4
            data[at:at + width] = value.to_bytes(width, "big")
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=64))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 256))]
        elif op == "cut":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds)).data
            start = draw(st.integers(0, len(other)))
            data[at:] = other[start:start + draw(st.integers(0, 2 * sniff.HEAD_BYTES))]
        elif op == "controls":
            data[at:at] = bytes([draw(st.integers(1, 31))]) * draw(st.integers(1, 400))
        else:
            data[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(data)


def test_sniff_survives_mutated_uploads(seeds, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz-bytes") / "upload.bin"
    started = time.monotonic()

    figures = FIGURES.setdefault("bytes", Figures())

    @settings(FUZZ, max_examples=EXAMPLES["bytes"])
    @given(data=mutated_bytes(seeds))
    def run(data: bytes) -> None:
        path.write_bytes(data)
        figures.inputs += 1
        save = lambda to: to.with_suffix(".bin").write_bytes(data)  # noqa: E731
        what = check(figures, "sniff.identify", lambda: sniff.identify(path), save)
        if what is not None:
            assert what.kind in KINDS and what.name, what
        check(figures, "sniff.ebml_doctype", lambda: sniff.ebml_doctype(data[:sniff.HEAD_BYTES]), save)
        boxes = check(figures, "sniff.mp4_boxes", lambda: sniff.mp4_boxes(path), save)
        assert boxes is None or len(boxes) <= 10_000
        reason = check(figures, "sniff.mp4_truncation", lambda: sniff.mp4_truncation(path, "MP4"), save)
        assert reason is None or isinstance(reason, str)

    run()
    _finish("bytes", started)


# --- ffprobe's JSON: probe's helpers on values of the kinds ffprobe prints --------------------------

def _rational(sep: str) -> st.SearchStrategy[str]:
    """ffprobe prints an AVRational as two ints: "30000/1001", "0/0", "16:9"."""
    int32 = st.integers(-2**31, 2**31 - 1)
    return st.builds(lambda a, b: f"{a}{sep}{b}", int32, int32)


SECONDS = st.one_of(st.just("N/A"), st.floats(-1e19, 1e19, allow_nan=False).map(lambda x: f"{x:f}"))
INT_TEXT = st.one_of(st.just("N/A"), st.integers(-2**63, 2**63 - 1).map(str))
# Tags are the file's own text: anything, with what probe parses out of some of them.
TAG = st.one_of(
    st.text(max_size=40), st.text(alphabet="0123456789.:-+eEnaif ", max_size=30),
    st.integers(0, 10**450).map(lambda n: f"{n}:00:00.0"),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-90", "90.5", "0", "00:00:02.5", "01:02:03.250000000", "::",
                     "1:2:3:4", "99:99:nan", "0:0:inf", "9" * 5000, "٣:٣:٣"]),
)
DOMAIN: dict[str, st.SearchStrategy] = {
    "width": st.integers(-2**31, 2**31 - 1), "height": st.integers(-2**31, 2**31 - 1),
    "channels": st.integers(-2**31, 2**31 - 1),
    "sample_aspect_ratio": _rational(":"), "display_aspect_ratio": _rational(":"),
    "avg_frame_rate": _rational("/"), "r_frame_rate": _rational("/"),
    "duration": SECONDS, "start_time": SECONDS,
    "nb_frames": INT_TEXT, "bit_rate": INT_TEXT, "sample_rate": INT_TEXT,
    "codec_type": st.sampled_from(["video", "audio", "subtitle", "data", "attachment"]),
    "codec_name": st.one_of(st.sampled_from(["h264", "aac", "pcm_s16le", "mp3", "ansi", "gif"]), st.text(max_size=12)),
    "format_name": st.one_of(st.sampled_from(["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mp3", "wav", "gif",
                                              "image2", "png_pipe"]), st.text(max_size=12)),
    "tags": st.dictionaries(st.sampled_from(["rotate", "DURATION", "DURATION-eng", "duration", "title"]), TAG,
                            max_size=3),
    "disposition": st.fixed_dictionaries({"attached_pic": st.integers(0, 1), "default": st.integers(0, 1)}),
    "side_data_list": st.lists(st.fixed_dictionaries({"rotation": st.integers(-2**31, 2**31 - 1)}), max_size=2),
}


@st.composite
def mutated_info(draw, seeds: list[Seed]) -> dict:
    info = json.loads(json.dumps(draw(st.sampled_from([s.info for s in seeds if s.info]))))
    parts = [info.setdefault("format", {}), *info.setdefault("streams", [])]
    for _ in range(draw(st.integers(1, 8))):
        part = draw(st.sampled_from(parts))
        key = draw(st.sampled_from(sorted(DOMAIN)))
        if draw(st.integers(0, 4)) == 0:
            part.pop(key, None)
        else:
            part[key] = draw(DOMAIN[key])
    return info


def probe_helpers(info: dict, what: sniff.Sniff) -> None:
    """What ``probe.inspect`` does with ffprobe's JSON, without running ffmpeg."""
    fmt, streams = info.get("format", {}), info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    assert probe._no_video_reason(fmt, streams, audio, what)
    if audio is not None:
        probe._audio_fields(audio)
    duration = probe._float(fmt.get("duration"))
    if duration and duration > 0:
        probe._without_start_offset(duration, fmt, streams)
    if video is not None:
        assert probe._rotation(video) in range(360)
        probe._video_end(fmt, video)
        meta = {"duration_s": duration or 1.0, "video": probe._video_fields(video)}
        probe._check_limits(meta, probe.Limits(14400, 7680, 4320))
        json.dumps(meta)


def test_probe_helpers_survive_mutated_ffprobe_output(seeds):
    started = time.monotonic()
    whats = [sniff.Sniff("media", "MP4"), sniff.Sniff("media", "Matroska"), sniff.Sniff("unknown", "data")]

    figures = FIGURES.setdefault("ffprobe-json", Figures())

    @settings(FUZZ, max_examples=EXAMPLES["ffprobe-json"])
    @given(info=mutated_info(seeds), what=st.sampled_from(whats))
    def run(info: dict, what: sniff.Sniff) -> None:
        figures.inputs += 1
        save = lambda to: to.with_suffix(".json").write_text(json.dumps(info, indent=1))  # noqa: E731
        check(figures, "probe helpers", lambda: probe_helpers(info, what), save, allowed=InputError)

    run()
    _finish("ffprobe-json", started)


# --- ffprobe's packet lines: probe._packets --------------------------------------------------------

PACKET_VALUES = {"pts_time": SECONDS, "dts_time": SECONDS, "duration_time": SECONDS,
                 "codec_type": DOMAIN["codec_type"], "flags": st.sampled_from(["K__", "___", "K_D", "__D", ""])}


@st.composite
def mutated_packets(draw, seeds: list[Seed]) -> str:
    lines = draw(st.sampled_from([s.packets for s in seeds if s.packets])).splitlines()
    for _ in range(draw(st.integers(1, 10))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "drop-field", "drop-line", "copy-line", "garbage"]))
        fields = dict(item.split("=", 1) for item in lines[at].split("|") if "=" in item)
        if op == "value":
            key = draw(st.sampled_from(sorted(PACKET_VALUES)))
            fields[key] = draw(PACKET_VALUES[key])
        elif op == "drop-field" and fields:
            fields.pop(draw(st.sampled_from(sorted(fields))))
        if op == "drop-line":
            del lines[at]
        elif op == "copy-line":
            lines.insert(draw(st.integers(0, len(lines))), lines[at])
        elif op == "garbage":
            lines[at] = draw(st.text(max_size=80))
        else:
            lines[at] = "|".join(f"{k}={v}" for k, v in fields.items())
    return "\n".join(lines)


def test_packet_parsing_survives_mutated_ffprobe_output(seeds):
    started = time.monotonic()

    figures = FIGURES.setdefault("packet-lines", Figures())

    @settings(FUZZ, max_examples=EXAMPLES["packet-lines"])
    @given(text=mutated_packets(seeds))
    def run(text: str) -> None:
        figures.inputs += 1
        save = lambda to: to.with_suffix(".txt").write_text(text)  # noqa: E731
        check(figures, "probe._packets", lambda: probe._packets(text), save)

    run()
    _finish("packet-lines", started)


def _finish(target: str, started: float) -> None:
    figures = FIGURES.setdefault(target, Figures())
    figures.seconds = time.monotonic() - started
    problems = {**figures.crashes, **figures.hangs}
    assert figures.inputs >= EXAMPLES[target] * 0.9, f"only {figures.inputs} inputs were tried"
    assert not problems, "\n".join(problems.values())


def _write_report() -> None:
    if not FIGURES:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    lines = ["Generated by `tests/faults/test_fuzz_parsing.py` (hypothesis, derandomized; seeds: every kind of "
             f"the input corpus; at most {PER_INPUT_S} CPU s per input).", "",
             "| target | inputs | crashes | hangs | s |", "| --- | --- | --- | --- | --- |"]
    for target, f in FIGURES.items():
        lines.append(f"| {target} | {f.inputs} | {len(f.crashes)} | {len(f.hangs)} | {f.seconds:.1f} |")
    total = list(FIGURES.values())
    lines.append(f"| all | {sum(f.inputs for f in total)} | {sum(len(f.crashes) for f in total)} | "
                 f"{sum(len(f.hangs) for f in total)} | {sum(f.seconds for f in total):.1f} |")
    for f in total:
        lines += [f"- {problem}" for problem in {**f.crashes, **f.hangs}.values()]
    (ARTIFACTS / "fuzz.md").write_text("\n".join(lines) + "\n")
