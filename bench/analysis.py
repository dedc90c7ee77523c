"""Why a target is missed, or only just met, written from the measurements.

Each sentence that judges (bound by CPU, fixed cost versus per-frame cost) is
chosen by comparing the measured numbers, so a rerun on another machine cannot
leave a stale claim behind.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from measure import Measurement
from report import Phase, Result, Target

WHISPER_WINDOW_S = 30
NOISE_SHARE = 0.05  # differences between runs smaller than this share of a stage are not read as effects


@dataclass(frozen=True)
class Costs:
    """A separate run that prices detect's model alone."""

    model: dict[str, Any]  # yolo_floor.py's output: the model's own time per frame


def _cpu(m: Measurement) -> str:
    """How busy the stage kept the machine, and whether other work competed with it."""
    cores = os.cpu_count() or 1
    text = f"It kept {m.cpu_share:.2f} of the {cores} cores busy on average"
    if m.disturbed:
        return (f"{text} while other processes used {m.others_share:.2f} cores, so it did not have the machine "
                "to itself and this time is pessimistic.")
    if m.cpu_share >= 0.85 * cores:
        return f"{text}: it is bound by CPU."
    return (f"{text} on an otherwise idle machine: {cores - m.cpu_share:.2f} cores' worth of its wall time went "
            "unused, so part of it runs serially or waits.")


def transcode(r: Result, target: Target, duration: float, d: dict[str, Measurement], ffmpeg_version: str) -> list[str]:
    """``d``: the decode floor, the 720p rung alone, the stage on a video-only copy, and one AAC encode."""
    stage, video_only, aac_once = r.measurement, d["video only"], d["aac once"]
    need = duration / target.limit
    rungs = stage.manifest()["renditions"]
    top_px = rungs[0]["width"] * rungs[0]["height"]
    lower_px = sum(x["width"] * x["height"] for x in rungs[1:]) / top_px
    lower = " and ".join(x["name"] for x in rungs[1:])
    encodes = sum(line.count("-c:a aac") for _, line in stage.events() if re.search(r"running: \S*ffmpeg", line))
    ladder = [p for p in r.phases if p.inference and not p.separate]
    text = [(f"The stage took {stage.seconds:.1f} s ({duration / stage.seconds:.2f}x realtime); "
             f"{target.limit:g}x needs {need:.1f} s or less. {_cpu(stage)}")]
    if ladder:
        text.append(f"Its ffmpeg command for the whole ladder ran {ladder[0].seconds:.1f} s (from the stage's log "
                    f"lines); start-up, probing and the steps after it took the other "
                    f"{stage.seconds - ladder[0].seconds:.1f} s.")
    top_s = d["720p only"].seconds
    extra = (f"add {stage.seconds - top_s:.1f} s" if stage.seconds - top_s > NOISE_SHARE * stage.seconds
             else "add nothing beyond run-to-run noise")
    text.append(f"Decoding the clip once costs {d['decode'].seconds:.1f} s (the decode-floor run). The 720p rung "
                f"alone (`--ladder 720`) takes {top_s:.1f} s ({duration / top_s:.2f}x realtime); the {lower} rungs "
                f"carry {lower_px:.0%} of its pixels and {extra}.")
    sound_s = stage.seconds - video_only.seconds
    times = {0: "not at all", 1: "once"}.get(encodes, f"{encodes} times")
    text.append(
        f"The stage's ffmpeg commands encode the audio to AAC {times} (counted in its log); one AAC encode of this "
        f"clip's audio alone takes {aac_once.seconds:.1f} s and keeps {aac_once.cpu_share:.2f} cores busy. On a copy "
        f"of the clip without audio the stage takes {video_only.seconds:.1f} s ({duration / video_only.seconds:.2f}x "
        f"realtime) and keeps {video_only.cpu_share:.2f} cores busy, against {stage.cpu_share:.2f} with sound"
        + (f": sound costs the stage {sound_s:.1f} s, {sound_s / stage.seconds:.0%} of its time."
           if sound_s > NOISE_SHARE * stage.seconds else ": sound makes no difference beyond run-to-run noise.")
    )
    major = int(ffmpeg_version.split(".")[0]) if ffmpeg_version[:1].isdigit() else None
    if (encodes and sound_s > NOISE_SHARE * stage.seconds and video_only.cpu_share - stage.cpu_share > 0.1
            and major is not None and major < 7):
        text.append(f"ffmpeg {ffmpeg_version} drives decoding, filtering and every encoder from one thread (the "
                    "codecs' own worker threads aside; 7.0 was the first to split them), so while it encodes audio "
                    "the x264 threads wait for frames, which fits the lower CPU use with sound.")
    if target.met:
        text.append(f"It meets {target.limit:g}x with {target.margin:.0%} to spare; without sound it runs at "
                    f"{duration / video_only.seconds:.2f}x.")
    elif video_only.seconds <= need:
        text.append(f"So the video fits in {target.limit:g}x; the audio is what pushes the stage over.")
    elif top_s > need:
        text.append(f"Even one 720p rendition misses {target.limit:g}x on this machine, so each frame needs less "
                    "encoder work (a faster x264 preset) or the stage more cores.")
    else:
        text.append(f"Even without sound the stage misses {target.limit:g}x: the {len(rungs)} video encodes "
                    "together are too much for this CPU at this preset.")
    return text


def transcribe(r: Result, target: Target, duration: float, beam_size: str) -> list[str]:
    m = r.measurement
    infer = sum(p.seconds for p in r.phases if p.inference)
    if not infer:
        return [f"The stage took {m.seconds:.1f} s; its log lines no longer show where the time went."]
    fixed = m.seconds - infer
    paid_once = ", ".join(f"{p.label} {p.seconds:.1f} s" for p in r.phases if not p.inference)
    text = [
        (f"The stage took {m.seconds:.1f} s ({duration / m.seconds:.2f}x realtime); {target.limit:g}x needs "
         f"{duration / target.limit:.1f} s or less. {_cpu(m)}"),
        (f"{fixed:.1f} s of it ({fixed / m.seconds:.0%}) is paid once per run whatever the clip's length: "
         f"{paid_once}. Transcription itself (VAD, language detection, beam-{beam_size} decoding with word "
         f"timestamps) took {infer:.1f} s, {duration / infer:.2f}x realtime."),
    ]
    if target.met:
        return text
    rate = infer / duration  # transcription seconds per second of audio
    if duration < WHISPER_WINDOW_S:
        text.append(
            f"Whisper encodes audio in {WHISPER_WINDOW_S} s windows, so a {duration:g} s clip pays for a whole "
            "window: measure a longer clip before judging the transcription's speed."
        )
    elif target.limit * rate < 1:
        break_even = target.limit * fixed / (1 - target.limit * rate)
        text.append(
            f"So transcription is fast enough and the fixed cost is what misses on a {duration:g} s clip. "
            f"If transcription time grows in proportion to the audio, clips longer than about "
            f"{break_even:.0f} s meet {target.limit:g}x."
        )
    else:
        text.append(
            f"Transcription alone is below {target.limit:g}x, so removing the fixed cost would not be enough: "
            "the model's decoding on this CPU is the bottleneck."
        )
    return text


def detect(r: Result, target: Target, costs: Costs, one_fps_source: Measurement, imgsz: str) -> list[str]:
    m = r.measurement
    manifest = m.manifest()
    lean = one_fps_source.manifest()
    lean_wall_ms = 1000 * one_fps_source.seconds / lean["frames_sampled"]
    frames, inference_ms = manifest["frames_sampled"], manifest["ms_per_frame"]
    loop = sum(p.seconds for p in r.phases if p.inference)
    if not loop:
        return [f"The stage took {m.seconds:.1f} s; its log lines no longer show where the time went."]
    loop_ms = 1000 * loop / frames
    fixed = m.seconds - loop
    paid_once = ", ".join(f"{p.label} {p.seconds:.1f} s" for p in r.phases
                          if not p.inference and not p.separate)
    onnx_ms, predict_ms, runs = costs.model["onnx_ms"], costs.model["ultralytics_ms"], costs.model["runs"]
    text = [
        (f"{frames} frames sampled in {m.seconds:.1f} s: {1000 * m.seconds / frames:.0f} ms of wall time per "
         f"sampled frame, of which inference (the manifest's `ms_per_frame`: the detector's call, i.e. "
         f"letterbox, the model and NMS) is {inference_ms:.0f} ms. {_cpu(m)}"),
        (f"The frame loop (ffmpeg decoding and scaling, inference, scratch JPEGs of frames with hits) took "
         f"{loop:.1f} s, {loop_ms:.0f} ms a frame. The other {fixed:.1f} s ({fixed / m.seconds:.0%}) is paid once "
         f"per run: {paid_once}."),
        (f"Per frame, in a separate run with no video (median of {runs}), the model takes {onnx_ms:.0f} ms in "
         f"onnxruntime alone (ultralytics' `predict` on the same export: {predict_ms:.0f} ms); in the stage a call "
         f"averaged {inference_ms:.0f} ms."),
    ]
    decoding_ms = inference_ms - lean["ms_per_frame"]
    effect = (f"decoding the frames it throws away costs about {decoding_ms:.0f} ms of each inference"
              if decoding_ms >= 5 else "decoding the frames it throws away makes no measurable difference")
    text.append(
        f"To keep one frame a second, ffmpeg decodes every frame of the source, on the same cores as the model. "
        f"On a 1 fps copy of the clip, where it decodes only the frames it keeps, the stage measures "
        f"{lean['ms_per_frame']:.0f} ms of inference per frame ({lean_wall_ms:.0f} ms of wall time per frame): "
        f"{effect}."
    )
    if target.met:
        return text
    if onnx_ms > target.limit:
        text.append(
            f"So the int8 YOLOv8n at {imgsz} px ({'x'.join(map(str, costs.model['input']))} "
            f"input) cannot meet {target.limit:g} ms a frame on this CPU, whatever the stage around it does."
        )
    elif loop_ms < target.limit:
        needed = math.ceil(1000 * fixed / (target.limit - loop_ms))
        text.append(
            f"So each frame costs less than {target.limit:g} ms; the fixed cost spread over only {frames} frames is "
            f"what misses. If the loop grows in proportion to the frames, a run needs about {needed} sampled "
            f"frames (at 1 fps, a video of {needed / 60:.0f} min) before the average drops under {target.limit:g} ms."
        )
    else:
        text.append(f"The model alone is under {target.limit:g} ms; what the stage adds around it puts each "
                    "frame over.")
    return text


def memory(r: Result, target: Target) -> list[str]:
    m = r.measurement
    return [(f"The largest process reached {m.maxrss_mb:.0f} MB and the whole tree {m.tree_rss_mb:.0f} MB, "
             f"over the {target.limit:.0f} MB limit.")]


def phases_of(m: Measurement, marks: list[tuple[str, str | None, bool]]) -> list[Phase]:
    """Cut a run at the first log line matching each pattern.

    ``marks`` are (label, pattern that ends the part or None for the exit, whether the part grows with the clip).
    A pattern that matches nothing (the worker changed its logging) joins its part to the next one.
    """
    parts, start, pending = [], 0.0, []
    for label, pattern, grows in marks:
        pending.append(label)
        try:
            end = m.at(pattern) if pattern else m.seconds
        except LookupError:
            continue
        parts.append(Phase(" + ".join(pending), end - start, inference=grows))
        start, pending = end, []
    return parts
