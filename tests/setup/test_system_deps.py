"""scripts/system-deps.sh: each missing tool maps to its package, and only missing ones are asked for.

Each case runs the script with a PATH that holds exactly the tools the case has: small stand-ins
that say who the user is (``id``) and record what apt-get was asked for. ``make fresh`` runs the
real thing on a bare Debian 12, as root and not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "system-deps.sh"
TOOLS = ["venv", "ffmpeg", "ffprobe", "espeak-ng", "npm", "chromium"]


def machine(tmp_path: Path, *, uid: int, has: tuple[str, ...] = (), venv: bool = True) -> dict[str, str]:
    """A PATH with the given tools (and nothing else that matters), as user ``uid``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def tool(name: str, body: str) -> None:
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)

    tool("id", f"echo {uid}")
    tool("apt-get", f'echo "$@" >> {tmp_path / "apt.log"}')
    tool("python", "exit 0" if venv else "exit 1")  # `python -c 'import ensurepip, venv'`
    for name in has:
        tool(name, "exit 0")
    return {"PATH": str(bin_dir), "PYTHON": str(bin_dir / "python")}


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT), *TOOLS], env=env, capture_output=True, text=True)


def test_without_root_it_stops_with_one_message_naming_the_packages(tmp_path):
    result = run(machine(tmp_path, uid=1000, venv=False))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Missing system packages: python3-venv ffmpeg espeak-ng nodejs npm chromium. Install them "
        "(sudo apt-get install python3-venv ffmpeg espeak-ng nodejs npm chromium), then run make again."]
    assert not (tmp_path / "apt.log").exists()


def test_node_with_its_own_npm_is_left_alone(tmp_path):
    """Node.js from its vendor bundles npm; asking apt for Debian's npm beside it breaks the whole install."""
    result = run(machine(tmp_path, uid=0, has=("node", "npm")))
    assert result.returncode == 0, result.stderr
    installs = [line for line in (tmp_path / "apt.log").read_text().splitlines() if line.startswith("install")]
    assert installs == ["install -y -qq ffmpeg espeak-ng chromium"]


def test_node_without_npm_gets_debians_npm_only(tmp_path):
    result = run(machine(tmp_path, uid=0, has=("node", "ffmpeg", "ffprobe", "espeak-ng", "chromium")))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "apt.log").read_text().splitlines()[-1] == "install -y -qq npm"


def test_nothing_missing_installs_nothing(tmp_path):
    result = run(machine(tmp_path, uid=1000, has=("ffmpeg", "ffprobe", "espeak-ng", "npm", "node", "chromium")))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not (tmp_path / "apt.log").exists()


@pytest.mark.parametrize("tool", ["ffprobe", "ffmpeg"])
def test_one_package_serves_two_tools(tmp_path, tool):
    has = ("ffmpeg", "ffprobe", "espeak-ng", "npm", "chromium")
    result = run(machine(tmp_path, uid=1000, has=tuple(t for t in has if t != tool)))
    assert result.returncode == 1 and "Missing system packages: ffmpeg." in result.stderr


def test_the_makefile_asks_for_the_tools_each_target_needs():
    """make demo needs no browser; make test does (Chromium runs the page tests)."""
    out = subprocess.run(["make", "-n", "-s", "system-deps", "test-deps", f"PYTHON={sys.executable}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].endswith("scripts/system-deps.sh venv ffmpeg ffprobe espeak-ng npm")
    assert out[1].endswith("scripts/system-deps.sh venv ffmpeg ffprobe espeak-ng npm chromium")


@pytest.mark.parametrize(("has", "body", "asked"), [
    ((), "exit 1", ["docker-compose"]),  # neither Compose v2 nor docker-compose
    (("docker-compose",), "exit 1", []),
    ((), 'test "$1" = compose', []),  # `docker compose version` answers: the v2 plugin
])
def test_compose_is_asked_for_only_without_either_compose(tmp_path, has, body, asked):
    env = machine(tmp_path, uid=0, has=has)
    (Path(env["PATH"]) / "docker").write_text(f"#!/bin/sh\n{body}\n")
    (Path(env["PATH"]) / "docker").chmod(0o755)
    result = subprocess.run(["/bin/bash", str(SCRIPT), "compose"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    log = tmp_path / "apt.log"
    installs = [line for line in (log.read_text().splitlines() if log.exists() else []) if line.startswith("install")]
    assert installs == ([f"install -y -qq {' '.join(asked)}"] if asked else [])
