"""Helpers behind the video-pipeline DAGs and operators: config, identity, catalog, publishing."""
