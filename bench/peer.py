"""The straightforward script the pipeline is measured against: one tool call per output, one after another.

This is what the seed projects describe and what a user would write by hand: a
loudnorm measuring pass and an ffmpeg per rendition that applies it (the textbook
two-pass), the audio extracted for faster-whisper and Resemblyzer over its
segments clustered with scikit-learn, ultralytics over the video with a frame
stride, separate poster, GIF and storyboard commands, a separate burn, ffmpeg's
scene score for chapters, and Shaka Packager. It uses the pipeline's own defaults (the
worker's settings: CRF, preset, rate caps, keyframe interval, ladder, loudness
target, Whisper model and beam, speaker distance, YOLO model, sampling rate,
confidence and shot threshold), so the two are
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
from video_worker.speaker_clusters import SAME_SPEAKER_DISTANCE
from video_worker.transcode import ladder_sizes, maxrate_kbps

SCENE_TIME = "lavfi.scd.time:"  # scdet logs each cut it finds: "lavfi.scd.score: 12.3, lavfi.scd.time: 6.667"


def ffmpeg(*args: str | Path | int, level: str = "error") -> str:
    """Run ffmpeg; its log (at ``level``: info has what a filter measured)."""
    return subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", level, "-y", *map(str, args)],
                          check=True, stderr=subprocess.PIPE, text=True).stderr


def probe(source: Path) -> dict:
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(source)],
        check=True, capture_output=True, text=True).stdout)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    num, den = video["r_frame_rate"].split("/")
    return {"width": video["width"], "height": video["height"], "fps": int(num) / int(den),
            "duration": float(info["format"]["duration"]),
            "audio": any(s["codec_type"] == "audio" for s in info["streams"])}


def loudnorm_target() -> str:
    settings = worker_settings()
    return (f"loudnorm=I={settings.loudness_target_lufs}:TP={settings.loudness_true_peak_dbtp}"
            f":LRA={settings.loudness_range_lu}")


def loudness(source: Path) -> str:
    """The measuring pass of a two-pass loudnorm: the filter that each rendition then applies."""
    log = ffmpeg("-i", source, "-vn", "-af", f"{loudnorm_target()}:print_format=json", "-f", "null", "-", level="info")
    measured = json.loads(log[log.rindex("{"):log.rindex("}") + 1])
    return (f"{loudnorm_target()}:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
            f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
            f":offset={measured['target_offset']}:linear=true,aresample=48000")


def renditions(source: Path, out: Path, info: dict) -> list[Path]:
    """One ffmpeg per rung, each decoding the source again; the pipeline's rung sizes."""
    files = []
    audio = ["-af", loudness(source)] if info["audio"] else []
    keyframes = worker_settings().keyframe_interval_s
    for rung, w, h in ladder_sizes(info["width"], info["height"], worker_settings().ladder):
        maxrate = maxrate_kbps(rung)
        path = out / f"{rung}p.mp4"
        ffmpeg("-i", source, "-vf", f"scale={w}:{h}:flags=bicubic,setsar=1", "-c:v", "libx264",
               "-preset", worker_settings().preset, "-crf", worker_settings().crf,
               "-maxrate", f"{maxrate}k", "-bufsize", f"{2 * maxrate}k", "-profile:v", "high",
               "-pix_fmt", "yuv420p", "-force_key_frames", f"expr:gte(t,n_forced*{keyframes})",
               *audio, "-c:a", "aac", "-b:a", worker_settings().audio_bitrate, "-ac", "2",
               "-movflags", "+faststart", path)
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
    segments = list(segments)
    labels = speakers(audio, [(seg.start, seg.end) for seg in segments])
    srt = out / "subtitles.srt"
    with srt.open("w") as f:
        for n, (seg, who) in enumerate(zip(segments, labels), 1):
            f.write(f"{n}\n{_srt_time(seg.start)} --> {_srt_time(seg.end)}\nSpeaker {who + 1}: {seg.text.strip()}\n\n")
    return srt


def speakers(audio: Path, spans: list[tuple[float, float]]) -> list[int]:
    """Resemblyzer's embedding of each segment, clustered at the pipeline's distance."""
    if len(spans) < 2:
        return [0] * len(spans)
    import librosa
    from resemblyzer import VoiceEncoder, preprocess_wav
    from sklearn.cluster import AgglomerativeClustering

    wav, rate = librosa.load(audio, sr=16000)
    encoder = VoiceEncoder("cpu", verbose=False)
    embeddings = [encoder.embed_utterance(preprocess_wav(wav[int(a * rate):int(b * rate)], source_sr=rate))
                  for a, b in spans]
    return AgglomerativeClustering(n_clusters=None, distance_threshold=SAME_SPEAKER_DISTANCE, metric="cosine",
                                   linkage="average").fit_predict(embeddings).tolist()


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


def chapters(smallest: Path, out: Path, duration: float) -> list[float]:
    """Cuts from ffmpeg's scene score on the smallest rendition, at the pipeline's threshold, as WebVTT chapters."""
    log = ffmpeg("-i", smallest, "-an", "-vf", f"scdet=threshold={worker_settings().shot_threshold}", "-f", "null", "-",
                 level="info")
    cuts = [float(line.split(SCENE_TIME)[1].split()[0]) for line in log.splitlines() if SCENE_TIME in line]
    bounds = [0.0, *cuts, duration]
    with (out / "chapters.vtt").open("w") as f:
        f.write("WEBVTT\n\n")
        for n, (start, end) in enumerate(zip(bounds, bounds[1:]), 1):
            f.write(f"{_srt_time(start).replace(',', '.')} --> {_srt_time(end).replace(',', '.')}\nChapter {n}\n\n")
    return cuts


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
    files = step("transcode", renditions, source, out, info)
    srt = step("transcribe", transcribe, source, out)
    hits = step("detect", detect, source, out, info["fps"])
    step("previews", previews, source, out, info["duration"])
    step("burn", burn, files[0], srt, out)
    step("chapters", chapters, files[-1], out, info["duration"])
    step("package", package, files, out)
    print(json.dumps({"steps": steps, "cpu": cpu, "renditions": [f.name for f in files], "animals": sorted(
        {h["label"] for h in hits})}))


if __name__ == "__main__":
    main()
