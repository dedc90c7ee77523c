#!/usr/bin/env bash
# make image and make cluster-images: one image from one of the repository's Dockerfiles, on base
# images that can be had here (the Dockerfile's defaults where they can be pulled, else the bare
# Debian 12 image). Unchanged inputs reuse Docker's layer cache.
#
#   scripts/docker/build-image.sh DOCKERFILE TAG [TARGET]
#
# Each "ARG NAME_IMAGE=default" of the Dockerfile can be overridden from the environment with the
# image's own prefix: WORKER_BASE_IMAGE, WORKER_NODE_IMAGE, AIRFLOW_BASE_IMAGE, STANDINS_BASE_IMAGE.
# CA_BUNDLE: an extra CA bundle (a TLS-inspecting proxy), put into the build context for the build
# stages only, as build-ca.pem beside the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/../.."
dockerfile=$1 tag=$2 target=${3:-}
dir=$(dirname "$dockerfile")
prefix=$(basename "$dir" | tr '[:lower:]-' '[:upper:]_')

args=() base=
while IFS='=' read -r name default; do
  override=${prefix}_${name}
  image=$(scripts/docker/engine.sh "${!override:-$default}")
  args+=(--build-arg "$name=$image")
  [ "$name" = BASE_IMAGE ] && base=$image
done < <(sed -n 's/^ARG \([A-Z_]*_IMAGE\)=/\1=/p' "$dockerfile")

ca=$dir/build-ca.pem
rm -f "$ca"
trap 'rm -f "$ca"' EXIT
[ -n "${CA_BUNDLE:-}" ] && cp "$CA_BUNDLE" "$ca"

# BuildKit needs the buildx plugin in recent Docker CLIs; the classic builder builds these files as well.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
log=/tmp/video-pipeline-build-$(echo "$tag" | tr -c 'a-zA-Z0-9\n' -).log
started=$(date +%s)
docker build --network host -f "$dockerfile" ${target:+--target "$target"} "${args[@]}" \
  --label "org.video-pipeline.image=$tag" --label "org.video-pipeline.base=$base" -t "$tag" . >"$log" 2>&1 || {
  tail -40 "$log" >&2; echo "image: the build of $tag failed (log $log)" >&2; exit 1; }
docker image prune -f --filter "label=org.video-pipeline.image=$tag" >/dev/null  # the builds this one replaced
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "image: $tag (${args[*]//--build-arg /}), $((size / 1000000)) MB, built in $(( $(date +%s) - started )) s"
