"""video-pipeline's Airflow operators."""
