"""The upload page: a FastAPI app that Airflow's api-server serves at /upload (video_pipeline_plugin.py).

Airflow does not authenticate plugin apps, so every route here does, with the api-server's own
security dependencies: the Airflow login (its session cookie, or a bearer token) and permission to
start runs of video_pipeline, which an upload does. The page itself sends a signed-out visitor to
Airflow's login and back.

- ``GET /upload/``: the page (include/templates/upload.html and upload.js), with a Content-Security-Policy
  that allows its own files and API and the S3 endpoint the files go to, and nothing inline.
- ``POST /upload/api/uploads``: ``{"name", "size", "type"}`` of a file; a presigned POST for it (201), or
  why not (413 too large, 415 not a video).
- ``GET /upload/api/uploads/{key}``: whether the object is there, its video id and run id, and its
  item's status. The page follows the run itself through Airflow's REST API.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, Field

from video_pipeline import csp, uploads
from video_pipeline.config import Settings
from video_pipeline.discovery import PIPELINE_DAG_ID

TEMPLATES = Path(__file__).resolve().parents[2] / "include" / "templates"
PREFIX = uploads.PAGE_PREFIX

app = FastAPI(title="video-pipeline uploads", docs_url=None, redoc_url=None, openapi_url=None)


class FileInfo(BaseModel):
    name: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    type: str = Field(default="", max_length=200)


def _may(method: Literal["GET", "POST"]) -> Any:
    """The caller is signed in to Airflow and may read (GET) or start (POST) runs of video_pipeline."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return Depends(requires_access_dag(method, DagAccessEntity.RUN, param_dag_id=PIPELINE_DAG_ID))


@cache
def _page() -> Any:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True).get_template("upload.html")


def _clients() -> tuple[Any, Any]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from video_pipeline.status_callbacks import catalog

    settings = Settings.from_env()
    return S3Hook(aws_conn_id=settings.aws_conn_id).get_conn(), catalog(settings)


@cache
def _policy() -> str:
    """The page's Content-Security-Policy: its own script, style and API (Airflow's REST API is on the same
    origin), and the S3 endpoint the files are posted to: the origin of a presigned POST's URL (the bucket's,
    whatever the key)."""
    s3, _ = _clients()
    settings = Settings.from_env()
    post = urlsplit(s3.generate_presigned_post(Bucket=settings.bucket, Key=settings.incoming_prefix)["url"])
    return csp.policy(csp.UPLOAD, csp.source(f"{post.scheme}://{post.netloc}", "the S3 endpoint"))


@app.exception_handler(uploads.UploadRefused)
async def _refused(_: Request, exc: uploads.UploadRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


@app.get("/", response_class=HTMLResponse)
async def page(request: Request) -> Any:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    try:
        await get_user(request, None, None)
    except HTTPException:
        return RedirectResponse(get_auth_manager().get_url_login(next_url=f"{PREFIX}/"), status_code=303)
    settings = Settings.from_env()
    return HTMLResponse(_page().render(max_bytes=settings.upload_max_bytes, max_text=uploads.size_text(
        settings.upload_max_bytes), extensions=sorted(settings.video_extensions), dag_id=PIPELINE_DAG_ID,
        prefix=PREFIX), headers={"Content-Security-Policy": _policy()})


@app.get("/upload.js", dependencies=[_may("GET")])
async def script() -> FileResponse:
    return FileResponse(TEMPLATES / "upload.js", media_type="text/javascript")


@app.get("/style.css")
async def style() -> FileResponse:
    """The site's own stylesheet: the upload page looks like the pages it publishes."""
    return FileResponse(TEMPLATES / "style.css", media_type="text/css")


@app.post("/api/uploads", status_code=201, dependencies=[_may("POST")])
def presign(info: FileInfo) -> dict[str, Any]:
    s3, _ = _clients()
    return uploads.presigned_post(s3, Settings.from_env(), uploads.Request(info.name, info.size, info.type))


@app.get("/api/uploads/{key:path}", dependencies=[_may("GET")])
def upload_status(key: str) -> dict[str, Any]:
    s3, catalog = _clients()
    found = uploads.status(s3, Settings.from_env(), catalog, key)
    if found.get("run_id"):
        found["run_api"] = f"/api/v2/dags/{PIPELINE_DAG_ID}/dagRuns/{quote(found['run_id'], safe='')}"
    return found
