#!/usr/bin/env bash
# A Docker engine for make image, make test-production and make fresh: the one that answers, or,
# where none does, one started by DOCKER_ENGINE_SCRIPT (a machine's own way to start dockerd, such as
# ../shared/tools/docker-engine.sh). With no engine to be had it says so and fails.
#
#   scripts/docker/engine.sh           ensure an engine
#   scripts/docker/engine.sh IMAGE     ... and print IMAGE if it exists or can be pulled; otherwise the
#                                      bare Debian 12 image that DOCKER_ENGINE_SCRIPT builds (no registry)
set -euo pipefail
engine_script=${DOCKER_ENGINE_SCRIPT:-}

if ! command -v docker >/dev/null; then
  echo "docker: no docker command; install Docker Engine (https://docs.docker.com/engine/install/)" >&2; exit 1
fi
if ! docker info >/dev/null 2>&1; then
  if [ -n "$engine_script" ] && [ -x "$engine_script" ]; then
    "$engine_script" start >&2
  fi
  docker info >/dev/null 2>&1 || {
    echo "docker: no Docker engine answers and none could be started; start dockerd (or set DOCKER_ENGINE_SCRIPT)" >&2
    exit 1
  }
fi

[ $# -eq 0 ] && exit 0
image=$1
if docker image inspect "$image" >/dev/null 2>&1 || docker pull -q "$image" >/dev/null 2>&1; then
  echo "$image"
elif [ -n "$engine_script" ] && [ -x "$engine_script" ]; then
  echo "docker: $image cannot be pulled here; using the bare Debian 12 image instead" >&2
  "$engine_script" base >&2
  echo local/debian:bookworm
else
  echo "docker: $image is neither here nor pullable" >&2; exit 1
fi
