"""Generated media shared by the worker tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import footage
import pytest


@pytest.fixture(scope="session")
def english_speech(speak) -> Path:
    voice, text = footage.SPEECH["en"]
    return speak("english.wav", text, voice, 130)


@pytest.fixture(scope="session")
def speech_clip(make_media, english_speech) -> Path:
    """640x360 test pattern with English speech; about 10 s."""
    return make_media(
        "speech.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25",
        "-i", english_speech,
        "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
    )


@pytest.fixture(scope="session")
def silent_clip(make_media) -> Path:
    """Video only, no audio track."""
    return make_media(
        "silent.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
    )


@pytest.fixture(scope="session")
def hd_clip(make_media) -> Path:
    """1280x720 at 30 fps with stereo 48 kHz audio; 4 s."""
    return make_media(
        "hd.mov",
        "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=4",
        "-f", "lavfi", "-i", "sine=f=440:d=4:sample_rate=48000",
        "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
    )


@pytest.fixture(scope="session")
def rotated_clip(make_media) -> Path:
    """Stored 320x240 with a 90-degree display rotation, as phones record portrait video."""
    plain = make_media("landscape.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                       "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    return make_media("rotated.mp4", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90")
