"""Airflow tests: an isolated AIRFLOW_HOME, and the plugins folder importable as Airflow makes it."""

import airflow_home  # noqa: F401  (before anything imports airflow)
