"""transcribe: speech to text with Whisper, language detection, .srt and .vtt.

faster-whisper (CTranslate2, int8 on CPU) is the default engine; openai-whisper
is selectable for GPU workers. A video without audio, or without speech, gives a
clean "no speech" manifest and empty subtitle files rather than a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from video_worker import caption_norms, ffmpeg, probe, settings
from video_worker.subtitles import Word, build_cues, remove_loops, to_srt, to_vtt, words_from_segment

log = logging.getLogger(__name__)

ENGINES = ("faster-whisper", "openai-whisper")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINES, default=settings.get("WHISPER_ENGINE"),
                        help="speech engine (env VIDEO_WORKER_WHISPER_ENGINE)")
    parser.add_argument("--model", default=settings.get("WHISPER_MODEL"),
                        help="model name (downloaded when missing) or local path (env VIDEO_WORKER_WHISPER_MODEL)")
    parser.add_argument("--language", default=settings.get("WHISPER_LANGUAGE"),
                        help="declared language code such as en or fr; empty detects it "
                             "(env VIDEO_WORKER_WHISPER_LANGUAGE)")
    parser.add_argument("--device", default=settings.get("DEVICE"),
                        help="auto, cpu or cuda (env VIDEO_WORKER_DEVICE)")
    parser.add_argument("--compute-type", default=settings.get("WHISPER_COMPUTE_TYPE"),
                        help="faster-whisper compute type; default int8 on CPU, float16 on CUDA "
                             "(env VIDEO_WORKER_WHISPER_COMPUTE_TYPE)")
    parser.add_argument("--beam-size", type=int, default=int(settings.get("WHISPER_BEAM_SIZE")),
                        help="beam size (env VIDEO_WORKER_WHISPER_BEAM_SIZE)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> dict[str, Any]:
    meta = probe.inspect(source)
    language = (args.language or "").strip().lower() or None
    result: dict[str, Any] = {
        "engine": args.engine,
        "model": args.model,
        "duration_s": meta["duration_s"],
        "language": language,
        "language_probability": None,
        "language_declared": language is not None,
        "segments": [],
    }
    if meta["audio"] is None:
        result["no_speech_reason"] = "the video has no audio track"
    else:
        audio = workdir / "audio.wav"
        ffmpeg.run(["-i", source, "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000",
                    "-c:a", "pcm_s16le", audio])
        engine = _faster_whisper if args.engine == "faster-whisper" else _openai_whisper
        result.update(engine(audio, args, language))
        if not result["segments"]:
            result["no_speech_reason"] = "no speech was found in the audio"

    words = remove_loops([w for seg in result["segments"] for w in _segment_words(seg)])
    fps = (meta["video"] or {}).get("fps")
    cues = build_cues(words, language=result["language"], fps=fps)
    result["text"] = " ".join(w.text for w in words)
    (out / "transcript.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (out / "subtitles.srt").write_text(to_srt(cues), encoding="utf-8")
    (out / "subtitles.vtt").write_text(to_vtt(cues), encoding="utf-8")
    return {
        "speech": bool(cues),
        "no_speech_reason": result.get("no_speech_reason"),
        "language": result["language"],
        "language_probability": result["language_probability"],
        "engine": args.engine,
        "model": args.model,
        "device": result.get("device"),
        "duration_s": meta["duration_s"],
        "segments": len(result["segments"]),
        "words": len(words),
        "cues": len(cues),
        "norm_violations": caption_norms.count(cues, fps=fps, language=result["language"]).as_dict(),
        "transcript": "transcript.json",
        "subtitles": {"srt": "subtitles.srt", "vtt": "subtitles.vtt"},
    }


def _segment_words(seg: dict) -> list[Word]:
    if seg.get("words"):
        return [Word(w["start"], w["end"], w["word"].strip()) for w in seg["words"] if w["word"].strip()]
    return words_from_segment(seg["start"], seg["end"], seg["text"])


def _faster_whisper(audio: Path, args: argparse.Namespace, language: str | None) -> dict[str, Any]:
    import ctranslate2
    from faster_whisper import WhisperModel

    device = args.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = args.compute_type or ("float16" if device == "cuda" else "int8")
    log.info("faster-whisper model=%s device=%s compute_type=%s", args.model, device, compute_type)
    model = WhisperModel(args.model, device=device, compute_type=compute_type,
                         cpu_threads=os.cpu_count() or 1)
    segments, info = model.transcribe(
        str(audio),
        language=language,
        beam_size=args.beam_size,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    return {
        "device": device,
        "compute_type": compute_type,
        "language": info.language,
        "language_probability": round(float(info.language_probability), 4),
        "segments": [
            {
                "id": seg.id,
                "start": round(seg.start, 3),
                "end": round(seg.end, 3),
                "text": seg.text.strip(),
                "avg_logprob": round(seg.avg_logprob, 4),
                "no_speech_prob": round(seg.no_speech_prob, 4),
                "words": [
                    {"start": round(w.start, 3), "end": round(w.end, 3), "word": w.word,
                     "probability": round(w.probability, 4)}
                    for w in seg.words or []
                ],
            }
            for seg in segments
        ],
    }


def _openai_whisper(audio: Path, args: argparse.Namespace, language: str | None) -> dict[str, Any]:
    import torch
    import whisper

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    log.info("openai-whisper model=%s device=%s", args.model, device)
    model = whisper.load_model(args.model, device=device)
    probability = None
    if language is None and model.is_multilingual:
        clip = whisper.pad_or_trim(whisper.load_audio(str(audio)))
        mel = whisper.log_mel_spectrogram(clip, model.dims.n_mels).to(model.device)
        _, probs = model.detect_language(mel)
        language = max(probs, key=probs.get)
        probability = round(float(probs[language]), 4)
    elif language is None:
        language, probability = "en", 1.0
    result = model.transcribe(
        str(audio),
        language=language,
        beam_size=args.beam_size,
        word_timestamps=True,
        condition_on_previous_text=False,
        fp16=device.startswith("cuda"),
    )
    return {
        "device": device,
        "language": language,
        "language_probability": probability,
        "segments": [
            {
                "id": seg["id"],
                "start": round(seg["start"], 3),
                "end": round(seg["end"], 3),
                "text": seg["text"].strip(),
                "avg_logprob": round(seg["avg_logprob"], 4),
                "no_speech_prob": round(seg["no_speech_prob"], 4),
                "words": [
                    {"start": round(w["start"], 3), "end": round(w["end"], 3), "word": w["word"],
                     "probability": round(w["probability"], 4)}
                    for w in seg.get("words", [])
                ],
            }
            for seg in result["segments"]
        ],
    }
