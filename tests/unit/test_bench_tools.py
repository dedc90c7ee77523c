"""The benchmark tooling's own logic: BENCHMARKS.md's sections, py-spy samples' places, the throughput clips."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from clip import Clip
from report import write_section
from stage_profile import NO_FRAME, place
from throughput import clips

INTRO = "# Benchmarks\n\nWhat this file is.\n\nMeasured today.\n\n## Machine\n\n- CPU: one\n"


def test_the_summary_opens_the_file_after_its_intro_and_is_replaced_in_place(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(INTRO)
    write_section(path, "peer", "## Against the script\n\nslow")
    write_section(path, "summary", "## Summary\n\nfirst", top=True)
    write_section(path, "summary", "## Summary\n\nsecond", top=True)
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nWhat this file is.\n\n<!-- summary -->\n## Summary\n\nsecond\n"
                           "<!-- /summary -->\n\nMeasured today.")
    assert "first" not in text and text.count("<!-- summary -->") == 1
    assert text.rstrip().endswith("<!-- peer -->\n## Against the script\n\nslow\n<!-- /peer -->")


def test_a_section_that_is_rewritten_moves_to_the_end_without_piling_up_blank_lines(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(INTRO)
    write_section(path, "a", "A1")
    write_section(path, "b", "B")
    write_section(path, "a", "A2")
    assert path.read_text().endswith("- CPU: one\n\n<!-- b -->\nB\n<!-- /b -->\n\n<!-- a -->\nA2\n<!-- /a -->\n")


def frame(name: str, file: str) -> dict:
    return {"name": name, "file": file, "line": 1, "col": None}


SITE = "/venv/lib/python3.11/site-packages"
WORKER = "/repo/images/worker/src/video_worker"


def test_each_py_spy_sample_is_placed_by_the_first_rule_its_stack_matches():
    root = frame('process 1:"video-worker detect"', "")
    main = frame("main", f"{WORKER}/cli.py")
    assert place([root]) == NO_FRAME
    assert place([root, main, frame("_find_and_load", "<frozen importlib._bootstrap>"),
                  frame("<module>", f"{SITE}/boto3/__init__.py")]) == "Python imports"
    assert place([root, main, frame("Location.download", f"{WORKER}/storage.py"),
                  frame("BaseClient._make_api_call", f"{SITE}/botocore/client.py")]) == "S3 I/O (boto3)"
    assert place([main, frame("load_detector", f"{WORKER}/detect.py"),
                  frame("OnnxDetector.detect", f"{WORKER}/onnx_detector.py"),
                  frame("Session.run", f"{SITE}/onnxruntime/capi/onnxruntime_inference_collection.py")]) == "model load"
    assert place([main, frame("WhisperModel.__init__", f"{SITE}/faster_whisper/transcribe.py")]) == "model load"
    assert place([main, frame("OnnxDetector.detect", f"{WORKER}/onnx_detector.py"),
                  frame("Session.run", f"{SITE}/onnxruntime/capi/onnxruntime_inference_collection.py")]) \
        == "inference (onnxruntime, faster-whisper)"
    # Else the project's innermost function, though the sample was deeper, in numpy.
    assert place([main, frame("OnnxDetector._letterbox", f"{WORKER}/onnx_detector.py"),
                  frame("pad", f"{SITE}/numpy/lib/_arraypad_impl.py")]) == "OnnxDetector._letterbox (onnx_detector.py)"


def test_the_throughput_clips_differ_in_bytes_but_not_in_media(tmp_path):
    source = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=1",
                    "-f", "lavfi", "-i", "sine=d=1", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(source)],
                   check=True)
    copies = clips(Clip(source, 1.0, 1.0, 0), 3)

    def packets(path: Path) -> str:
        return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0",
                               "-c", "copy", "-f", "framemd5", "-"], check=True, capture_output=True, text=True).stdout

    assert len({hashlib.md5(p.read_bytes()).hexdigest() for p in copies}) == 3
    assert {packets(p) for p in copies} == {packets(source)}
    made = [p.stat().st_mtime_ns for p in copies]
    assert [p.stat().st_mtime_ns for p in clips(Clip(source, 1.0, 1.0, 0), 3)] == made  # cached, not made again
