#!/bin/sh
# The official image's contract, as docker-entrypoint.sh on the PATH: options alone (`--port 6380`) or a
# config file (`x.conf`) are redis-server's; anything else runs as given, so a compose file's
# `sh -c 'exec docker-entrypoint.sh redis-server - <<EOF ...'` (the configuration on standard input,
# no password on the command line) works with either image.
set -eu
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
exec "$@"
