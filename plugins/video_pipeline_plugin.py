"""The Airflow plugin of video-pipeline: the upload page in the api-server, linked from the UI's menu.

The one module Airflow loads as a plugin (plugins/.airflowignore keeps it from importing the
packages beside it under bare names); the page itself is video_pipeline/upload_app.py.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from video_pipeline.upload_app import PREFIX, app


class VideoPipelinePlugin(AirflowPlugin):
    name = "video_pipeline"
    fastapi_apps = [{"app": app, "url_prefix": PREFIX, "name": "Upload videos"}]
    external_views = [{"name": "Upload videos", "href": f"{PREFIX}/", "destination": "nav",
                       "url_route": "upload-videos"}]
