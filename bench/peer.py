"""The straightforward script the pipeline is measured against: one tool call per output, one after another.

This is what the seed projects describe and what a user would write by hand: an
ffmpeg per rendition, the audio extracted for faster-whisper, ultralytics over
the video with a frame stride, separate poster, GIF and storyboard commands, a
separate burn, and Shaka Packager. It uses the pipeline's own defaults (the
worker's settings: CRF, preset, rate caps, keyframe interval, ladder, Whisper
model and beam, YOLO model, sampling rate and confidence), so the two are
compared at equal settings; only the way the work is organised differs.

    python bench/peer.py --source clip.mp4 --out dir/
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

from video_worker.settings import worker_settings
from video_worker.transcode import ladder_sizes, maxrate_kbps

FFMPEG = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]


def ffmpeg(*args: str | Path | int) -> None:
    subprocess.run([*FFMPEG, *map(str, args)], check=True)


def probe(source: Path) -> dict:
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(source)],
        check=True, capture_output=True, text=True).stdout)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    num, den = video["r_frame_rate"].split("/")
    return {"width": video["width"], "height": video["height"], "fps": int(num) / int(den),
            "duration": float(info["format"]["duration"])}


def renditions(source: Path, out: Path, width: int, height: int) -> list[Path]:
    """One ffmpeg per rung, each decoding the source again; the pipeline's rung sizes."""
    files = []
    keyframes = worker_settings().keyframe_interval_s
    for rung, w, h in ladder_sizes(width, height, worker_settings().ladder):
        maxrate = maxrate_kbps(rung)
        path = out / f"{rung}p.mp4"
        ffmpeg("-i", source, "-vf", f"scale={w}:{h}:flags=bicubic,setsar=1", "-c:v", "libx264",
               "-preset", worker_settings().preset, "-crf", worker_settings().crf,
               "-maxrate", f"{maxrate}k", "-bufsize", f"{2 * maxrate}k", "-profile:v", "high",
               "-pix_fmt", "yuv420p", "-force_key_frames", f"expr:gte(t,n_forced*{keyframes})",
               "-c:a", "aac", "-b:a", worker_settings().audio_bitrate, "-ac", "2", "-movflags", "+faststart", path)
        files.append(path)
    return files


def transcribe(source: Path, out: Path) -> Path:
    from faster_whisper import WhisperModel

    audio = out / "audio.wav"
    ffmpeg("-i", source, "-vn", "-ac", "1", "-ar", "16000", audio)
    model = WhisperModel(worker_settings().whisper_model, device="cpu", compute_type="int8",
                         cpu_threads=os.cpu_count() or 1)
    segments, _ = model.transcribe(str(audio), beam_size=worker_settings().whisper_beam_size,
                                   word_timestamps=True, vad_filter=True, condition_on_previous_text=False)
    srt = out / "subtitles.srt"
    with srt.open("w") as f:
        for n, seg in enumerate(segments, 1):
            f.write(f"{n}\n{_srt_time(seg.start)} --> {_srt_time(seg.end)}\n{seg.text.strip()}\n\n")
    return srt


def _srt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def detect(source: Path, out: Path, fps: float) -> list[dict]:
    from ultralytics import YOLO
    from ultralytics.engine.results import Results

    model = YOLO(worker_settings().yolo_model, task="detect")
    wanted = worker_settings().detect_classes
    stride = max(1, round(fps / worker_settings().detect_fps))
    hits = []
    results = model.predict(str(source), stream=True, vid_stride=stride, conf=worker_settings().detect_conf,
                            imgsz=worker_settings().detect_imgsz, verbose=False,
                            classes=[i for i, name in model.names.items() if name in wanted])
    for n, result in enumerate(results):
        boxes = result.boxes if isinstance(result, Results) else None
        if boxes is None:
            raise RuntimeError(f"{worker_settings().yolo_model} gave no boxes: it is not a detection model")
        for cls, conf in zip(boxes.cls.tolist(), boxes.conf.tolist()):
            hits.append({"t": n * stride / fps, "label": model.names[int(cls)], "confidence": conf})
    (out / "detections.json").write_text(json.dumps(hits))
    return hits


def previews(source: Path, out: Path, duration: float) -> None:
    ffmpeg("-ss", f"{duration * 0.1:.3f}", "-i", source, "-frames:v", "1", "-vf", "scale=1280:-2", "-q:v", "2",
           out / "poster.jpg")
    for name, width, colours in (("preview.gif", 480, 256), ("preview-small.gif", 240, 128)):
        ffmpeg("-ss", f"{duration * 0.1:.3f}", "-t", "4", "-i", source, "-vf",
               f"fps=10,scale={width}:-2:flags=lanczos,split[a][b];[a]palettegen=max_colors={colours}[p];"
               "[b][p]paletteuse", out / name)
    interval = max(1.0, duration / 100)
    ffmpeg("-i", source, "-vf", f"fps=1/{interval},scale=160:-2,tile=10x10", "-frames:v", "1",
           out / "storyboard.jpg")


def burn(top: Path, srt: Path, out: Path) -> None:
    ffmpeg("-i", top, "-vf", f"subtitles={srt}", "-c:v", "libx264", "-preset", worker_settings().preset,
           "-crf", worker_settings().crf, "-c:a", "copy", "-movflags", "+faststart", out / "burned.mp4")


def package(files: list[Path], out: Path) -> None:
    streams = [f"in={f},stream=video,init_segment={f.stem}/init.mp4,segment_template={f.stem}/$Number$.m4s"
               for f in files]
    streams.append(f"in={files[0]},stream=audio,init_segment=audio/init.mp4,segment_template=audio/$Number$.m4s")
    subprocess.run([worker_settings().packager, *streams, "--segment_duration", str(worker_settings().segment_s),
                    "--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8"],
                   check=True, cwd=out / "stream", capture_output=True)


def _cpu_seconds() -> float:
    """CPU time of this script and of the tools it ran and waited for, so far."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    source, out = args.source.resolve(), args.out.resolve()
    (out / "stream").mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def step(name: str, fn, *a):
        started, cpu_before = time.monotonic(), _cpu_seconds()
        result = fn(*a)
        steps[name] = round(time.monotonic() - started, 3)
        cpu[name] = round(_cpu_seconds() - cpu_before, 3)
        return result

    info = step("probe", probe, source)
    files = step("transcode", renditions, source, out, info["width"], info["height"])
    srt = step("transcribe", transcribe, source, out)
    hits = step("detect", detect, source, out, info["fps"])
    step("previews", previews, source, out, info["duration"])
    step("burn", burn, files[0], srt, out)
    step("package", package, files, out)
    print(json.dumps({"steps": steps, "cpu": cpu, "renditions": [f.name for f in files], "animals": sorted(
        {h["label"] for h in hits})}))


if __name__ == "__main__":
    main()
