#!/bin/sh
# As in the official apache/airflow image: `bash ...`, `python ...` or `airflow ...` run as given;
# anything else is an Airflow subcommand (`scheduler`, `celery worker ...`), so compose files and
# the official Helm chart both work with this image.
set -e
case "${1:-}" in
  bash|sh|python|python3|airflow) exec "$@" ;;
  *) exec airflow "$@" ;;
esac
