"""transcribe: speech to text with Whisper, language detection, .srt and .vtt, and an English track.

faster-whisper (CTranslate2, int8 on CPU) is the default engine; openai-whisper
is selectable for GPU workers (whisper_engines). A video without audio, or
without speech, gives a clean "no speech" manifest and empty subtitle files
rather than a failure. Speech in another language than English also gets an
English track (translation), which needs a multilingual model. Who speaks is labelled from the voices
(speakers), unless --no-speakers.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from video_contract.manifests import SubtitleFiles, TranscribeManifest, Translation
from video_worker import caption_norms, ffmpeg, languages, models, probe, speakers, translation, whisper_engines
from video_worker.settings import worker_settings
from video_worker.subtitles import Cue, Word, build_cues, cues_json, remove_loops, to_srt, to_vtt, words_from_segment
from video_worker.whisper_engines import ENGINES

log = logging.getLogger(__name__)

MULTILINGUAL_MODELS = "base, small, medium, large-v3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config = worker_settings()
    parser.add_argument("--engine", choices=ENGINES, default=config.whisper_engine,
                        help="speech engine (env VIDEO_WORKER_WHISPER_ENGINE)")
    parser.add_argument("--model", type=models.option(config.whisper_model, models.WHISPER_NAMES),
                        default=config.whisper_model,
                        help="the configured model (env VIDEO_WORKER_WHISPER_MODEL: a name or any path), a name in "
                             "VIDEO_WORKER_MODEL_DIR, or a standard size the engine downloads (tiny ... large-v3, "
                             "turbo; when VIDEO_WORKER_MODEL_DOWNLOADS is true)")
    parser.add_argument("--language", default=config.whisper_language,
                        help="declared language code such as en or fr; empty detects it "
                             "(env VIDEO_WORKER_WHISPER_LANGUAGE)")
    parser.add_argument("--device", default=config.device,
                        help="auto, cpu or cuda (env VIDEO_WORKER_DEVICE)")
    parser.add_argument("--compute-type", default=config.whisper_compute_type,
                        help="faster-whisper compute type; default int8 on CPU, float16 on CUDA "
                             "(env VIDEO_WORKER_WHISPER_COMPUTE_TYPE)")
    parser.add_argument("--beam-size", type=int, default=config.whisper_beam_size,
                        help="beam size (env VIDEO_WORKER_WHISPER_BEAM_SIZE)")
    parser.add_argument("--translate", action=argparse.BooleanOptionalAction,
                        default=config.whisper_translate,
                        help="also write an English track when the speech is in another language; needs a "
                             "multilingual model (env VIDEO_WORKER_WHISPER_TRANSLATE: true or false)")
    parser.add_argument("--speakers", action=argparse.BooleanOptionalAction, default=config.speakers,
                        help="label who speaks, from the voices (env VIDEO_WORKER_SPEAKERS: true or false)")


def run(args: argparse.Namespace, *, source: Path, out: Path, workdir: Path) -> TranscribeManifest:
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
    engine, audio = None, workdir / "audio.wav"
    if meta["audio"] is None:
        result["no_speech_reason"] = "the video has no audio track"
    else:
        ffmpeg.run(["-i", source, "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000",
                    "-c:a", "pcm_s16le", audio])
        engine = whisper_engines.load(args)
        if language not in (None, translation.TARGET) and not engine.multilingual:
            log.warning("the speech is declared %s, but %s is an English-only model", language, args.model)
        result.update(engine.transcribe(audio, language))
        if not result["segments"]:
            result["no_speech_reason"] = "no speech was found in the audio"

    words = remove_loops([w for seg in result["segments"] for w in _segment_words(seg)])
    voices: int | None = None
    if args.speakers:
        words, voices = speakers.label(audio, words, device=engine.device if engine else args.device)
        result["speakers"] = voices
        _label_segments(result["segments"], words)
    fps = (meta["video"] or {}).get("fps")
    cues = build_cues(words, language=result["language"], fps=fps)
    result["text"] = " ".join(w.text for w in words)
    (out / "transcript.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    subtitles = write_track(out, "subtitles", cues)
    (out / "cues.json").write_text(cues_json(cues), encoding="utf-8")  # for a caption review's edits
    english: Translation | None = None
    skipped: str | None = None
    if engine and cues and args.translate:
        english, skipped = _translate(engine, args, audio, result["language"], language, cues, out, fps)
    return TranscribeManifest(
        speech=bool(cues),
        no_speech_reason=result.get("no_speech_reason"),
        language=result["language"],
        language_name=languages.name(result["language"] or "und"),
        language_probability=result["language_probability"],
        engine=args.engine,
        model=args.model,
        device=result.get("device"),
        duration_s=meta["duration_s"],
        fps=fps,
        segments=len(result["segments"]),
        words=len(words),
        cues=len(cues),
        norm_violations=caption_norms.count(cues, fps=fps, language=result["language"]).as_dict(),
        transcript="transcript.json",
        subtitles=subtitles,
        cues_file="cues.json",
        speakers=voices,
        translation=english,
        translation_skipped=skipped,
    )


def write_track(out: Path, stem: str, cues: list[Cue]) -> SubtitleFiles:
    (out / f"{stem}.srt").write_text(to_srt(cues), encoding="utf-8")
    (out / f"{stem}.vtt").write_text(to_vtt(cues), encoding="utf-8")
    return SubtitleFiles(srt=f"{stem}.srt", vtt=f"{stem}.vtt")


def _translate(engine: whisper_engines.Engine, args: argparse.Namespace, audio: Path, heard: str,
               declared: str | None, cues: list[Cue], out: Path,
               fps: float | None) -> tuple[Translation | None, str | None]:
    """The English track, when the speech is in another language: ``translation`` in the manifest, or
    ``translation_skipped`` saying why there is none although one was wanted."""
    if not engine.multilingual:
        if declared not in (None, translation.TARGET):
            return None, (f"{args.model} is an English-only model: it cannot transcribe or translate {declared} "
                          f"speech; choose a multilingual model ({MULTILINGUAL_MODELS})")
        return None, None
    if heard == translation.TARGET:
        return None, None
    english = translation.translate(engine, audio, heard, cues)
    log.info("translated %d cues of %s speech into %d English cues", len(cues), heard, len(english))
    return Translation(
        language=translation.TARGET,
        name=languages.name(translation.TARGET),
        from_=heard,
        cues=len(english),
        subtitles=write_track(out, f"subtitles.{translation.TARGET}", english),
        norm_violations=caption_norms.count(english, fps=fps, language=translation.TARGET).as_dict(),
    ), None


def _segment_words(seg: dict[str, Any]) -> list[Word]:
    if seg.get("words"):
        return [Word(w["start"], w["end"], w["word"].strip()) for w in seg["words"] if w["word"].strip()]
    return words_from_segment(seg["start"], seg["end"], seg["text"])


def _label_segments(segments: list[dict[str, Any]], words: list[Word]) -> None:
    """Each Whisper word in transcript.json gets its speaker, and each segment the speaker of most of its words."""
    who = {(w.start, w.end): w.speaker for w in words if w.speaker}
    if not who:
        return
    for seg in segments:
        for word in seg["words"]:
            word["speaker"] = who.get((word["start"], word["end"]))
        said = [w["speaker"] for w in seg["words"] if w.get("speaker")]
        seg["speaker"] = max(dict.fromkeys(said), key=said.count) if said else None
