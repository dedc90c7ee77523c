#!/usr/bin/env bash
# make image: the worker image (images/worker/Dockerfile), from its production base images where they
# can be had, else from the bare Debian 12 image. Unchanged inputs reuse Docker's layer cache.
#
#   scripts/docker/build-image.sh TAG     env: WORKER_BASE_IMAGE, WORKER_NODE_IMAGE, CA_BUNDLE
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=$1
dockerfile=images/worker/Dockerfile
default_arg() { sed -n "s/^ARG $1=//p" "$dockerfile"; }
base=$(scripts/docker/engine.sh "${WORKER_BASE_IMAGE:-$(default_arg BASE_IMAGE)}")
node=$(scripts/docker/engine.sh "${WORKER_NODE_IMAGE:-$(default_arg NODE_IMAGE)}")

# An extra CA bundle (a TLS-inspecting proxy) goes into the build context for the build stages only.
ca=images/worker/build-ca.pem
rm -f "$ca"
trap 'rm -f "$ca"' EXIT
[ -n "${CA_BUNDLE:-}" ] && cp "$CA_BUNDLE" "$ca"

# BuildKit needs the buildx plugin in recent Docker CLIs; the classic builder builds this file as well.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
started=$(date +%s)
docker build --network host -f "$dockerfile" --build-arg "BASE_IMAGE=$base" --build-arg "NODE_IMAGE=$node" \
  --label "org.video-pipeline.base=$base" -t "$tag" . >/tmp/video-pipeline-image-build.log 2>&1 || {
  tail -40 /tmp/video-pipeline-image-build.log >&2; echo "image: the build failed (log /tmp/video-pipeline-image-build.log)" >&2; exit 1; }
docker image prune -f --filter label=org.video-pipeline.base >/dev/null  # the builds this one replaced
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "image: $tag from $base, $((size / 1000000)) MB, built in $(( $(date +%s) - started )) s"
