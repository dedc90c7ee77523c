"""The contract between video-pipeline's Airflow side and its worker, with no dependencies.

Stage names (``stages``), how a stage ends (``exits``), and each stage's manifest (``manifests``):
the worker writes through these types and every reader reads through them.
"""
