"""``make demo``: every worker stage on one video, through a local S3 endpoint.

Starts moto in server mode on 127.0.0.1, uploads the video (a generated sample
with speech and a cat, or ``--video``), runs each stage as the orchestrator
does (a ``video-worker`` subprocess reading and writing S3 URIs), then copies
the results to ``demo-output/`` because the endpoint stops with this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "bench")]

import local_models  # noqa: E402
from clip import ensure_clip  # noqa: E402

BUCKET = "video-pipeline-demo"


def model_env() -> dict[str, str]:
    """Local weights where this machine has them; otherwise the standard downloads."""
    try:
        return local_models.worker_env("base")
    except (FileNotFoundError, ImportError, StopIteration, AttributeError) as exc:
        print(f"local model weights not found ({exc}); models will be downloaded on first use")
        return {}


def stage(name: str, *args: str, env: dict[str, str]) -> dict:
    started = time.monotonic()
    proc = subprocess.run(["video-worker", name, *args], capture_output=True, text=True, env=env, check=False)
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
    if proc.returncode != 0:
        sys.exit(f"{name} failed (exit {proc.returncode}): {result.get('error')}")
    print(f"  {name:<10} {time.monotonic() - started:6.1f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="your own video (default: a generated 20 s sample)")
    parser.add_argument("--out", type=Path, default=ROOT / "demo-output")
    args = parser.parse_args()

    video = args.video or ensure_clip(ROOT / ".cache" / "demo", 20).path
    if not video.is_file():
        sys.exit(f"no such video: {video}")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, **model_env(), "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "demo",
           "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="demo", aws_secret_access_key="demo")
    try:
        s3.create_bucket(Bucket=BUCKET)
        key = f"incoming/{video.name}"
        s3.upload_file(str(video), BUCKET, key)
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
        video_id = hashlib.sha256(f"{BUCKET}/{key}/{etag}".encode()).hexdigest()[:16]
        source, work = f"s3://{BUCKET}/{key}", f"s3://{BUCKET}/work/{video_id}"
        print(f"local S3 endpoint {endpoint}; processing {source} as video {video_id}")

        probe = stage("probe", "--source", source, "--dest", f"{work}/probe/", env=env)
        transcode = stage("transcode", "--source", source, "--dest", f"{work}/transcode/", env=env)
        transcribe = stage("transcribe", "--source", source, "--dest", f"{work}/transcribe/", env=env)
        detect = stage("detect", "--source", source, "--dest", f"{work}/detect/", env=env)
        stage("previews", "--source", source, "--dest", f"{work}/previews/", env=env)
        top = transcode["artifacts"][transcode["top"]]
        stage("burn", "--source", top, "--subtitles", transcribe["artifacts"]["subtitles.vtt"],
              "--dest", f"{work}/burn/", "--language", transcribe["language"] or "", env=env)

        out = args.out / video_id
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"work/{video_id}/"):
            for obj in page.get("Contents", []):
                target = out / obj["Key"].removeprefix(f"work/{video_id}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(BUCKET, obj["Key"], str(target))
    finally:
        server.stop()

    animals = ", ".join(f"{a['label']} {a['first_s']:g}-{a['last_s']:g} s" for a in detect["animals"]) or "none"
    print(f"""
video       {probe['width']}x{probe['height']}, {probe['duration_s']:.1f} s, {probe['video_codec']}/{probe['audio_codec']}
renditions  {', '.join(r['name'] for r in transcode['renditions'])}
speech      {transcribe['language']} (p={transcribe['language_probability']}), {transcribe['words']} words
animals     {animals}
outputs     {out}
  subtitled video  {out / 'burn' / 'burned.mp4'}
  subtitles        {out / 'transcribe' / 'subtitles.vtt'}
  poster           {out / 'previews' / 'poster.jpg'}
  detections       {out / 'detect' / 'detections.json'}""")


if __name__ == "__main__":
    main()
