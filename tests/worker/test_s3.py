"""Stages chained through S3 URIs on a real local S3 endpoint (moto server over HTTP)."""

from __future__ import annotations

import json
import socket

from helpers import ffprobe


def _object(s3, uri: str) -> dict:
    bucket, key = uri[5:].split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)


def test_stages_chain_through_s3(run_worker, s3, bucket, speech_clip, tmp_path):
    s3.upload_file(str(speech_clip), bucket, "incoming/speech clip.mp4")
    source = f"s3://{bucket}/incoming/speech clip.mp4"
    out = f"s3://{bucket}/processed/abc123"

    probe = run_worker("probe", "--source", source, "--dest", f"{out}/probe/")
    assert probe.returncode == 0, probe.stderr
    meta = json.loads(_object(s3, probe.manifest["artifacts"]["metadata.json"])["Body"].read())
    assert (meta["video"]["display_width"], meta["video"]["display_height"]) == (640, 360)

    transcode = run_worker("transcode", "--source", source, "--dest", f"{out}/transcode/")
    assert transcode.returncode == 0, transcode.stderr
    top_uri = transcode.manifest["artifacts"][transcode.manifest["top"]]
    assert top_uri == f"{out}/transcode/renditions/360p.mp4"
    assert _object(s3, top_uri)["ContentType"] == "video/mp4"

    transcribe = run_worker("transcribe", "--source", source, "--dest", f"{out}/transcribe")
    assert transcribe.returncode == 0, transcribe.stderr
    vtt_uri = transcribe.manifest["artifacts"]["subtitles.vtt"]
    vtt = _object(s3, vtt_uri)
    assert vtt["ContentType"].startswith("text/vtt")
    assert b"-->" in vtt["Body"].read()

    burn = run_worker("burn", "--source", top_uri, "--subtitles", f"{transcribe.manifest['language']}={vtt_uri}",
                      "--dest", f"{out}/burn/")
    assert burn.returncode == 0, burn.stderr
    local = tmp_path / "burned.mp4"
    bucket_name, key = burn.manifest["artifacts"]["burned.mp4"][5:].split("/", 1)
    s3.download_file(bucket_name, key, str(local))
    assert {s["codec_type"] for s in ffprobe(local)["streams"]} == {"video", "audio"}

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="processed/abc123/")["Contents"]}
    for stage in ("probe", "transcode", "transcribe", "burn"):
        manifest_key = f"processed/abc123/{stage}/manifest.json"
        assert manifest_key in keys
        stored = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
        assert stored["stage"] == stage and stored["source"]


def test_missing_s3_object_is_permanent(run_worker, bucket):
    result = run_worker("probe", "--source", f"s3://{bucket}/incoming/missing.mp4",
                        "--dest", f"s3://{bucket}/out/")
    assert result.returncode == 2
    assert "does not exist" in result.manifest["error"]


def test_unreachable_endpoint_is_worth_a_retry(run_worker, speech_clip, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_worker("probe", "--source", speech_clip, "--dest", "s3://media/out/",
                        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1",
                             "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    assert result.returncode == 1
    assert (result.manifest["permanent"], result.manifest["kind"]) == (False, "transient")
    assert "Could not connect" in result.manifest["error"]


def test_only_an_s3_source_can_be_pinned_to_an_etag(run_worker, silent_clip, tmp_path):
    """``--source-etag`` names a version of an S3 object (S3's If-Match); a path or a non-ETag is a usage error."""
    local = run_worker("probe", "--source", silent_clip, "--dest", tmp_path, "--source-etag", "0" * 32)
    assert (local.returncode, local.manifest["kind"]) == (3, "usage")
    assert local.manifest["error"] == f"--source-etag pins an S3 object; {silent_clip} is a local path."
    odd = run_worker("probe", "--source", "s3://media/in.mp4", "--dest", tmp_path, "--source-etag", "a b")
    assert (odd.returncode, odd.manifest["kind"]) == (3, "usage")
    assert "argument --source-etag: not an ETag: 'a b'" in odd.manifest["error"]
