"""Every stage run once through the CLI, on the session's cat clip: the manifests the contract must read."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from video_contract.stages import Stage


@dataclass(frozen=True)
class StageRun:
    """One stage's output: its result line as printed, and its manifest.json as written."""

    line: str
    manifest_json: str
    dest: Path


@pytest.fixture(scope="session")
def stage_runs(cat_clip, model_env, tmp_path_factory) -> dict[Stage, StageRun]:
    """All nine stages in pipeline order, each fed by the ones before it, as the DAG feeds them."""
    work = tmp_path_factory.mktemp("contract")

    def run(stage: Stage, *args: str | Path) -> StageRun:
        dest = work / stage
        proc = subprocess.run(["video-worker", stage, "--dest", str(dest), *map(str, args)],
                              capture_output=True, text=True, env={**os.environ, **model_env}, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return StageRun(proc.stdout.splitlines()[-1], (dest / "manifest.json").read_text(), dest)

    runs = {Stage.PROBE: run(Stage.PROBE, "--source", cat_clip),
            Stage.TRANSCODE: run(Stage.TRANSCODE, "--source", cat_clip, "--ladder", "360,240"),
            Stage.TRANSCRIBE: run(Stage.TRANSCRIBE, "--source", cat_clip),
            Stage.DETECT: run(Stage.DETECT, "--source", cat_clip)}
    runs[Stage.PREVIEWS] = run(Stage.PREVIEWS, "--source", cat_clip,
                               "--detections", work / "detect" / "detections.json")
    transcribed = work / "transcribe"
    cues = json.loads((transcribed / "cues.json").read_text())
    texts = work / "texts.json"  # the reviewer rewrites the first cue: a review with an edit
    texts.write_text(json.dumps({"texts": ["A reviewed first line."] + [" ".join(c["lines"]) for c in cues[1:]]}))
    runs[Stage.CAPTIONS] = run(Stage.CAPTIONS, "--source", transcribed / "manifest.json", "--texts", texts)
    runs[Stage.BURN] = run(Stage.BURN, "--source", work / "transcode" / "renditions" / "360p.mp4",
                           "--subtitles", f"en={transcribed / 'subtitles.srt'}")
    runs[Stage.CHAPTERS] = run(Stage.CHAPTERS, "--source", work / "transcode" / "renditions" / "240p.mp4",
                               "--cues", transcribed / "cues.json")
    runs[Stage.PACKAGE] = run(Stage.PACKAGE, "--source", work / "transcode" / "manifest.json",
                              "--subtitles", f"en={transcribed / 'subtitles.vtt'}")
    return runs
