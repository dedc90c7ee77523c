"""Speaker labels for the transcript's words: Resemblyzer voice embeddings of the speech Whisper found,
clustered into speakers (speaker_clusters).

The speech is cut into stretches at the pauses between words, since that is where a turn changes hands;
each stretch gets one embedding (Resemblyzer's mean over 1.6 s windows) and every word of it that
stretch's speaker. Resemblyzer's wheel carries its voice encoder's weights, so this runs offline; it is
imported only when speakers are labelled, since it brings torch and librosa.
"""

from __future__ import annotations

import dataclasses
import logging
import wave
from pathlib import Path

import numpy as np

from video_worker.speaker_clusters import SAME_SPEAKER_DISTANCE, speakers
from video_worker.subtitles import Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Resemblyzer's, and the audio transcribe decodes for Whisper
TURN_PAUSE_S = 0.25  # a silence between words this long may hand the turn to another speaker
STEADY_S = 1.5  # a stretch this long gives an embedding steady enough to cluster on (bench/speakers.py)
LEVEL_DBFS = -30  # Resemblyzer's training loudness: quieter speech is raised to it


def label(audio: Path, words: list[Word], *, device: str,
          distance: float = SAME_SPEAKER_DISTANCE) -> tuple[list[Word], int]:
    """The words with their speakers ("Speaker 1", ... when there are two or more; None for one voice)
    and how many speakers there are (0 without words). ``distance``: speaker_clusters'."""
    if not words:
        return words, 0
    stretches = _stretches(words)
    with wave.open(str(audio)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1:
            raise ValueError(f"{audio}: expected 16 kHz mono, got {w.getframerate()} Hz, {w.getnchannels()} ch")
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    import torch
    from resemblyzer import VoiceEncoder, normalize_volume

    encoder = VoiceEncoder("cuda" if device.startswith("cuda") else "cpu", verbose=False)
    samples = normalize_volume(samples, LEVEL_DBFS, increase_only=True)
    spans = [(words[first].start, words[last].end) for first, last in stretches]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model, one stretch at a time: more threads would only spin-wait
    try:
        embeddings = np.array([encoder.embed_utterance(samples[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)])
                               for start, end in spans])
    finally:
        torch.set_num_threads(threads)  # openai-whisper's translation, next in this process, shares torch
    who = speakers(embeddings, [end - start >= STEADY_S for start, end in spans], distance=distance)
    count = max(who) + 1
    log.info("speakers: %d in %d stretches of speech", count, len(stretches))
    if count == 1:
        return words, 1
    labelled = list(words)
    for (first, last), n in zip(stretches, who):
        for k in range(first, last + 1):
            labelled[k] = dataclasses.replace(words[k], speaker=f"Speaker {n + 1}")
    return labelled, count


def _stretches(words: list[Word]) -> list[tuple[int, int]]:
    """(first, last) word of each run of speech without a pause of TURN_PAUSE_S."""
    runs, first = [], 0
    for k in range(1, len(words)):
        if words[k].start - words[k - 1].end >= TURN_PAUSE_S:
            runs.append((first, k - 1))
            first = k
    return [*runs, (first, len(words) - 1)]
