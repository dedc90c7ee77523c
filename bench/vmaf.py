"""VMAF of a rendition against its source scaled to the rendition's size, with libvmaf.

Debian's ffmpeg is built without libvmaf; the imageio-ffmpeg wheel (PyPI) ships an
ffmpeg with it, so every machine that installs the requirements can measure it.
The model is libvmaf's built-in default (vmaf_v0.6.1). Both sides pass through
``setsar=1,format=yuv420p``; the source is scaled with bicubic, as the ladder is.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

SUBSAMPLE = 3  # score every 3rd frame: the pooled mean moves by hundredths, the time by a third


def ffmpeg_with_libvmaf() -> str:
    """The imageio-ffmpeg binary, checked to have the libvmaf filter."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    filters = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True, check=True).stdout
    if " libvmaf " not in filters:
        raise SystemExit(f"{exe} has no libvmaf filter: install imageio-ffmpeg from requirements.txt")
    return exe


def vmaf(distorted: Path, reference: Path) -> float:
    """The pooled mean VMAF of ``distorted`` against ``reference`` scaled to its size."""
    exe = ffmpeg_with_libvmaf()
    size = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-print_format", "json", str(distorted)], capture_output=True, text=True, check=True).stdout)["streams"][0]
    with tempfile.TemporaryDirectory(prefix="vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        graph = (f"[0:v:0]setsar=1,format=yuv420p[d];"
                 f"[1:v:0]scale={size['width']}:{size['height']}:flags=bicubic,setsar=1,format=yuv420p[r];"
                 f"[d][r]libvmaf=n_threads={os.cpu_count() or 1}:n_subsample={SUBSAMPLE}:log_fmt=json:"
                 f"log_path={log}")
        subprocess.run([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(distorted),
                        "-i", str(reference), "-lavfi", graph, "-f", "null", "-"], check=True)
        return json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]
