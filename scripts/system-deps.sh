#!/usr/bin/env bash
# The system tools that `make demo` and `make test` need, installed from Debian/Ubuntu packages
# only where they are missing.
#
#   scripts/system-deps.sh TOOL...     tools: ffmpeg ffprobe espeak-ng npm chromium venv compose
#
# Each missing tool maps to its package, and only those packages are asked for. npm is left
# alone wherever it already runs: Node.js from its vendor bundles npm, and Debian's `npm`
# package conflicts with it. As root (with apt-get) the packages are installed; otherwise the
# script stops with one message that names them. PYTHON (default python3) is the interpreter
# whose `venv` module the project uses.
set -euo pipefail

PYTHON=${PYTHON:-python3}

# The packages that give one tool, or nothing when the tool is already there.
packages_for() {
  case "$1" in
    ffmpeg|ffprobe) command -v "$1" >/dev/null || echo ffmpeg ;;
    espeak-ng) command -v espeak-ng >/dev/null || echo espeak-ng ;;
    chromium) command -v chromium >/dev/null || echo chromium ;;
    compose)  # Compose v2 (the docker CLI plugin) where installed, else Debian's docker-compose
      docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || echo docker-compose ;;
    npm)
      if ! command -v npm >/dev/null; then
        # Without Node.js, Debian's nodejs and npm together; with a Node.js that lacks npm, Debian's npm.
        command -v node >/dev/null && echo npm || echo nodejs npm
      fi ;;
    venv)  # Debian splits ensurepip, which `python3 -m venv` needs, into python3-venv
      "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || echo python3-venv ;;
    *) echo "system-deps: unknown tool $1" >&2; exit 3 ;;
  esac
}

missing=()
for tool in "$@"; do
  for package in $(packages_for "$tool"); do
    [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
  done
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi

echo "Missing system packages: ${missing[*]}." \
     "Install them (sudo apt-get install ${missing[*]}), then run make again." >&2
exit 1
