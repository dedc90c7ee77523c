"""The two Whisper engines behind one interface: load once, then transcribe and translate.

faster-whisper (CTranslate2, int8 on CPU) is the default; openai-whisper is
selectable for GPU workers. faster-whisper decodes window after window, each
30 s window starting where the last one's timestamps ended. With a batch size
(VIDEO_WORKER_WHISPER_BATCH_SIZE) it cuts the speech into chunks of up to 30 s
at the VAD's pauses instead and decodes them in batches without timestamp
tokens: on the 60 s bench clip, 2 chunks instead of 3 windows and about 30%
less CPU for the decoding on 2 cores, but other cuts give the model other
context, so some words and commas differ; hence not the default.

Translation is Whisper's own ``translate`` task, which writes English whatever
the speech: it runs over given clips of the audio (the source subtitles'
sentences), so its text lines up with them.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from video_worker import models
from video_worker.settings import worker_settings

log = logging.getLogger(__name__)

ENGINES = ("faster-whisper", "openai-whisper")


class Engine(Protocol):
    device: str
    multilingual: bool

    def transcribe(self, audio: Path, language: str | None) -> dict[str, Any]:
        """Segments with word timings, the language and how sure the model is of it."""

    def translate(self, audio: Path, language: str, clips: list[tuple[float, float]]) -> list[dict[str, Any]]:
        """English text of each clip's speech, as segments (start, end, text) within the clips."""


def load(args: argparse.Namespace) -> Engine:
    return (FasterWhisper if args.engine == "faster-whisper" else OpenAIWhisper)(args)


def _flat(clips: list[tuple[float, float]]) -> list[float]:
    return [round(t, 3) for clip in clips for t in clip]


class FasterWhisper:
    def __init__(self, args: argparse.Namespace) -> None:
        models.load_safely()
        import ctranslate2
        from faster_whisper import WhisperModel

        device = args.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.device = device
        self.compute_type = args.compute_type or ("float16" if device == "cuda" else "int8")
        self.beam_size = args.beam_size
        self.batch_size = worker_settings().whisper_batch_size
        log.info("faster-whisper model=%s device=%s compute_type=%s batch_size=%s", args.model, device,
                 self.compute_type, self.batch_size)
        self.model = WhisperModel(args.model, device=device, compute_type=self.compute_type,
                                  cpu_threads=os.cpu_count() or 1)
        self.multilingual = self.model.model.is_multilingual

    def transcribe(self, audio: Path, language: str | None) -> dict[str, Any]:
        options: dict[str, Any] = {"language": language, "beam_size": self.beam_size, "word_timestamps": True,
                                   "vad_filter": True}
        if self.batch_size:
            from faster_whisper import BatchedInferencePipeline

            segments, info = BatchedInferencePipeline(self.model).transcribe(
                str(audio), batch_size=self.batch_size, **options)
        else:
            segments, info = self.model.transcribe(str(audio), condition_on_previous_text=False, **options)
        return {
            "device": self.device,
            "compute_type": self.compute_type,
            "batch_size": self.batch_size,
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

    def translate(self, audio: Path, language: str, clips: list[tuple[float, float]]) -> list[dict[str, Any]]:
        segments, _ = self.model.transcribe(
            str(audio), task="translate", language=language, beam_size=self.beam_size,
            clip_timestamps=_flat(clips), condition_on_previous_text=False,
        )
        return [{"start": seg.start, "end": seg.end, "text": seg.text.strip()} for seg in segments]


class OpenAIWhisper:
    def __init__(self, args: argparse.Namespace) -> None:
        models.load_safely()
        import torch
        import whisper

        device = args.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.beam_size = args.beam_size
        log.info("openai-whisper model=%s device=%s", args.model, device)
        self.model = whisper.load_model(args.model, device=device)
        self.multilingual = self.model.is_multilingual

    def transcribe(self, audio: Path, language: str | None) -> dict[str, Any]:
        import whisper

        probability = None
        if language is None and self.multilingual:
            clip = whisper.pad_or_trim(whisper.load_audio(str(audio)))
            mel = whisper.log_mel_spectrogram(clip, self.model.dims.n_mels).to(self.model.device)
            _, probs = self.model.detect_language(mel)
            language = max(probs, key=probs.get)
            probability = round(float(probs[language]), 4)
        elif language is None:
            language, probability = "en", 1.0
        result = self.model.transcribe(
            str(audio),
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            fp16=self.device.startswith("cuda"),
        )
        return {
            "device": self.device,
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

    def translate(self, audio: Path, language: str, clips: list[tuple[float, float]]) -> list[dict[str, Any]]:
        result = self.model.transcribe(
            str(audio), task="translate", language=language, beam_size=self.beam_size,
            clip_timestamps=_flat(clips), condition_on_previous_text=False, fp16=self.device.startswith("cuda"),
        )
        return [{"start": seg["start"], "end": seg["end"], "text": seg["text"].strip()} for seg in result["segments"]]
