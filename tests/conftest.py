"""Session fixtures: a real moto S3 server over HTTP, generated media, local model weights."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import local_models
import pytest
from helpers import WorkerResult
from local_env import free_port


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto in server mode on 127.0.0.1 at a free port, spoken to over HTTP."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def s3(moto_endpoint):
    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture(scope="session")
def bucket(s3) -> str:
    s3.create_bucket(Bucket="media")
    return "media"


@pytest.fixture(scope="session")
def model_env() -> dict[str, str]:
    return local_models.worker_env("tiny.en")


@pytest.fixture(scope="session")
def run_worker(model_env):
    """Run ``video-worker`` as a subprocess, exactly as the orchestrator does."""

    def run(*args: str, env: dict[str, str] | None = None) -> WorkerResult:
        proc = subprocess.run(
            ["video-worker", *map(str, args)],
            capture_output=True, text=True,
            env={**os.environ, **model_env, **(env or {})},
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        manifest = json.loads(lines[-1]) if lines else {}
        return WorkerResult(proc.returncode, manifest, proc.stderr)

    return run


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def make_media(media_dir):
    """Generate a media file once per session with an ffmpeg command line."""

    def make(name: str, *ffmpeg_args: str | Path) -> Path:
        path = media_dir / name
        if not path.exists():
            subprocess.run(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, ffmpeg_args), str(path)],
                check=True,
            )
        return path

    return make


@pytest.fixture(scope="session")
def speak(media_dir):
    """Speech as a WAV file from espeak-ng."""

    def say(name: str, text: str, voice: str = "en-us", speed: int = 140) -> Path:
        path = media_dir / name
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
        return path

    return say


@pytest.fixture(scope="session")
def cat_clip(make_media, speak, media_dir) -> Path:
    """8 s, 640x360: a test pattern, then scikit-image's cat, with English speech."""
    import cv2
    from skimage import data

    cat = media_dir / "chelsea.png"
    cv2.imwrite(str(cat), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    speech = speak("e2e.wav", "A black cat sits under a green tree. The cat looks at the camera.", "en-us", 140)
    return make_media(
        "e2e-cat.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=3",
        "-loop", "1", "-framerate", "25", "-t", "5", "-i", cat,
        "-i", speech,
        "-filter_complex", "[1:v]scale=640:360:force_original_aspect_ratio=increase,crop=640:360,setsar=1[c];"
                           "[0:v][c]concat=n=2:v=1:a=0[v];[2:a]apad,atrim=0:8[a]",
        "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-t", "8",
    )


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()
