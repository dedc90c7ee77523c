"""The worker image: every stage through its CLI in a container, against moto server, on generated media."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from helpers import docker_cli, ffprobe

BUCKET = "image-tests"
KEY_ID, KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "5f4e3d2c1b0a99887766554433221100"


def test_image_runs_as_a_user_with_every_tool(worker_image):
    config = json.loads(docker_cli("image", "inspect", worker_image).stdout)[0]["Config"]
    assert config["User"] == "worker" and config["Entrypoint"] == ["video-worker"]
    assert not any(v.startswith(("PIP_CERT=", "NODE_EXTRA_CA_CERTS=")) for v in config["Env"])
    # The stages' ffmpeg is the imageio-ffmpeg wheel's (VIDEO_WORKER_FFMPEG's default); ffprobe is Debian's.
    worker_ffmpeg = "python -c 'from video_worker.settings import worker_settings as s; print(s().ffmpeg_command)'"
    script = (f'id -u; "$({worker_ffmpeg})" -hide_banner -version | head -1; ffprobe -hide_banner -version | head -1; '
              "packager --version; "
              "python -c 'import faster_whisper, whisper, ultralytics, ctranslate2; print(\"imports ok\")' | tail -1; "
              "find / -xdev -name build-ca.pem 2>/dev/null | wc -l")
    out = docker_cli("run", "--rm", "--entrypoint", "sh", worker_image, "-c", script).stdout.split("\n")
    assert int(out[0]) != 0  # not root
    assert out[1].startswith("ffmpeg version n9.") and out[2].startswith("ffprobe version")
    assert "packager version v3" in out[3]
    assert out[4] == "imports ok" and out[5] == "0"  # the build's CA bundle stayed in the build


@pytest.fixture(scope="module")
def uploaded(s3, cat_clip) -> str:
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(cat_clip), BUCKET, "incoming/cat.mp4")
    return f"s3://{BUCKET}/incoming/cat.mp4"


@pytest.fixture(scope="module")
def stages(run_in_image, uploaded) -> dict:
    """Each stage once, in the DAG's order, each reading what the one before left in S3."""
    work = f"s3://{BUCKET}/work/image"
    done = {}
    for stage, args in [("probe", ()), ("transcode", ("--ladder", "360,240")), ("transcribe", ()), ("detect", ()),
                        ("previews", ())]:
        done[stage] = run_in_image(stage, "--source", uploaded, "--dest", f"{work}/{stage}/", *args)
    vtt = done["transcribe"].manifest.get("artifacts", {}).get("subtitles.vtt")
    top = done["transcode"].manifest.get("artifacts", {}).get(done["transcode"].manifest.get("top"))
    done["burn"] = run_in_image("burn", "--source", top, "--dest", f"{work}/burn/", "--subtitles", f"en={vtt}")
    return done


@pytest.mark.parametrize("stage", ["probe", "transcode", "transcribe", "detect", "previews", "burn"])
def test_every_stage_runs_in_the_image(stages, stage):
    result = stages[stage]
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.manifest["stage"] == stage and result.manifest["artifacts"]["manifest.json"].startswith("s3://")


def test_stage_outputs_are_right(stages, s3, tmp_path):
    probe, transcode, transcribe, detect, previews, burn = (stages[s].manifest for s in
                                                             ("probe", "transcode", "transcribe", "detect",
                                                              "previews", "burn"))
    assert (probe["width"], probe["height"], round(probe["duration_s"])) == (640, 360, 8)
    assert [r["height"] for r in transcode["renditions"]] == [360, 240]
    assert transcribe["speech"] and transcribe["language"] == "en"
    transcript = json.loads(_read(s3, transcribe["artifacts"]["transcript.json"]))
    assert "cat" in " ".join(segment["text"] for segment in transcript["segments"]).lower()
    assert detect["labels"] == ["cat"] and detect["device"] == "cpu"  # this host has no GPU
    assert {"poster.jpg", "preview.gif", "storyboard.jpg", "storyboard.vtt"} <= set(previews["artifacts"])
    video = tmp_path / "burned.mp4"
    video.write_bytes(_read(s3, burn["artifacts"]["burned.mp4"]))
    streams = ffprobe(video)["streams"]
    assert {s["codec_type"] for s in streams} == {"video", "audio"}
    assert float(ffprobe(video)["format"]["duration"]) == pytest.approx(8, abs=0.3)


def test_package_encrypts_in_the_image_and_the_key_stays_out_of_the_log(run_in_image, stages, s3):
    s3.put_object(Bucket=BUCKET, Key="keys/image.json", Body=json.dumps({"key_id": KEY_ID, "key": KEY}))
    subtitles = stages["transcribe"].manifest["artifacts"]["subtitles.vtt"]
    result = run_in_image("package", "--source", stages["transcode"].manifest["artifacts"]["manifest.json"],
                          "--dest", f"s3://{BUCKET}/work/image/package/", "--subtitles", f"en={subtitles}",
                          "--key", f"s3://{BUCKET}/keys/image.json", "--verbose")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.manifest["encrypted"] and result.manifest["key_id"] == KEY_ID
    mpd = _read(s3, result.manifest["artifacts"]["manifest.mpd"]).decode()
    assert "cenc:default_KID" in mpd and 'lang="en"' in mpd
    assert "running: packager" in result.stderr and KEY not in result.stderr  # logged at debug, keyless
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="work/image/package/")["Contents"]:
        assert KEY.encode() not in s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read(), obj["Key"]


def test_bad_input_exits_2_with_its_reason(run_in_image, s3):
    s3.put_object(Bucket=BUCKET, Key="incoming/notes.mp4", Body=b"meeting notes, not a video\n" * 20)
    result = run_in_image("probe", "--source", f"s3://{BUCKET}/incoming/notes.mp4",
                          "--dest", f"s3://{BUCKET}/work/bad/probe/")
    assert result.returncode == 2
    assert result.manifest == {"error": "The file is plain text, not a video.",
                               "permanent": True, "kind": "input", "stage": "probe"}
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="work/bad/")  # nothing written


def test_bad_options_exit_3(run_in_image, uploaded):
    result = run_in_image("transcode", "--source", uploaded, "--dest", f"s3://{BUCKET}/work/usage/",
                          "--ladder", "720,abc")
    assert result.returncode == 3 and result.manifest["kind"] == "usage"


def test_weights_come_from_the_mounted_model_cache(worker_image, uploaded, container_env, credentials_mount, model_env,
                                                   tmp_path):
    """A volume at /models is the image's model cache: weights there load without a download."""
    cache = tmp_path / "models"
    cache.mkdir()
    shutil.copy(model_env["VIDEO_WORKER_YOLO_MODEL"], cache / "yolo.onnx")
    cache.chmod(0o777)  # the image's user writes its downloads here
    env = {**container_env, "VIDEO_WORKER_YOLO_MODEL": "/models/yolo.onnx"}
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", "-v", f"{cache}:/models", *credentials_mount,
         *[arg for name in env for arg in ("-e", name)], worker_image,
         "detect", "--source", uploaded, "--dest", f"s3://{BUCKET}/work/cache/detect/"],
        capture_output=True, text=True, env={**os.environ, **env}, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["labels"] == ["cat"]


def _read(s3, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
