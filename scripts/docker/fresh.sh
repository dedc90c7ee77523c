#!/usr/bin/env bash
# make fresh: a new user's first run, in a container from a bare Debian 12 image.
#
# The container gets a clone of HEAD and, read-only beside it, ../shared (local weights), and
# starts from what the README assumes: Debian 12 with Python 3.11, make and git. Then:
#   1. as a user without root, `make demo` must stop with one message that names the packages;
#   2. as root, `make demo` installs what is missing and publishes the demo video's page;
#   3. a short smoke subset of `make test`.
# It prints the page URL and a verdict. FRESH_CACHE names a volume for pip, npm and apt downloads
# (empty: none); CA_BUNDLE is an extra CA bundle for HTTPS (a TLS-inspecting proxy).
set -euo pipefail
cd "$(dirname "$0")/../.."
image=$(scripts/docker/engine.sh "${FRESH_IMAGE:-debian:bookworm}")
shared=$(cd .. && pwd)/shared
mounts=(-v "$PWD/.git:/origin.git:ro")
[ -d "$shared" ] && mounts+=(-v "$shared:/work/shared:ro")
env=(-e "VIDEO_PIPELINE_LOCAL_PORT=${FRESH_PORT:-5090}")
if [ -n "${FRESH_CACHE-video-pipeline-fresh-cache}" ]; then
  mounts+=(-v "${FRESH_CACHE-video-pipeline-fresh-cache}:/cache")
  env+=(-e PIP_CACHE_DIR=/cache/pip -e npm_config_cache=/cache/npm -e FRESH_APT_CACHE=/cache/apt)
fi
if [ -n "${CA_BUNDLE:-}" ]; then
  mounts+=(-v "$(realpath "$CA_BUNDLE"):/run/extra-ca.pem:ro")
  for name in PIP_CERT NODE_EXTRA_CA_CERTS REQUESTS_CA_BUNDLE SSL_CERT_FILE; do env+=(-e "$name=/run/extra-ca.pem"); done
fi
echo "fresh: HEAD $(git rev-parse --short HEAD) in a new container from $image"
docker run --rm -i --network host "${mounts[@]}" "${env[@]}" -e "SMOKE_TESTS=${SMOKE_TESTS:-}" \
  "$image" bash -s < scripts/docker/fresh-inside.sh
