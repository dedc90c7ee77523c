"""The Airflow plugin of video-pipeline: the upload page in the api-server, linked from the UI's menu.

The one module Airflow loads as a plugin (plugins/.airflowignore keeps it from importing the
packages beside it under bare names); the page itself is video_pipeline/upload_app.py.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from video_pipeline.uploads import PAGE_PREFIX


class UploadPage:
    """The upload page's ASGI app, imported at its first request.

    Every Airflow process loads the plugins (each task, for its macros; `dags test`; the DAG processor),
    and the page's routes import the api-server's security: 0.5 s of CPU that only the api-server, which
    serves the page, needs to spend.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from video_pipeline.upload_app import app

        await app(scope, receive, send)


class VideoPipelinePlugin(AirflowPlugin):
    name = "video_pipeline"
    fastapi_apps = [{"app": UploadPage(), "url_prefix": PAGE_PREFIX, "name": "Upload videos"}]
    external_views = [{"name": "Upload videos", "href": f"{PAGE_PREFIX}/", "destination": "nav",
                       "url_route": "upload-videos"}]
