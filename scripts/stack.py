"""The embedded local stack: moto server as S3 and DynamoDB, and Airflow, on this machine.

    make up      moto + Airflow (UI on http://localhost:8080) in the background
    make demo    one DAG run on a sample video, then the page's URL: ``airflow dags test``,
                 or a run triggered on the Airflow that ``up`` started
    make env     ``export`` lines for the airflow CLI against this stack
    make down    stop what ``up`` and ``demo`` started; .airflow/ keeps Airflow's database and moto's state
    make clean   ``down``, then remove .airflow/: the runs, and the videos, pages, items and keys they made

Everything lives in ``.airflow/`` (git-ignored; ``VIDEO_PIPELINE_LOCAL_HOME``): Airflow's home and SQLite
database, the admin password, each background process's pid and log (``processes.py``), and moto's
state in ``.airflow/moto/`` (``moto_store.py``), so the pages and items that Airflow's runs made are
still there after ``down`` and ``up``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from airflow_api import AirflowAPI
from local_env import (
    ADMIN,
    AIRFLOW_PORT,
    HOME,
    LICENSE_PORT,
    MOTO_PORT,
    MOTO_STATE,
    ROOT,
    WEBHOOK_PORT,
    admin_password,
    airflow_env,
    license_env,
    local_endpoint,
    webhook_env,
    webhook_secret_file,
)
from processes import answers, running, start, stop, wait_for

DAG_TEST_TASK = re.compile(r"\[DAG TEST\] (starting|end task) task_id=(\S+)")
# moto answers once its saved state is loaded, every object's bytes read back: seconds a GB, minutes for many.
MOTO_START_S = 600


def ensure_moto() -> None:
    endpoint = local_endpoint()
    if running("moto"):
        print(f"moto: running at {endpoint}")
        return
    if answers(endpoint) is not None:
        sys.exit(f"something else answers at {endpoint}; choose another port with VIDEO_PIPELINE_LOCAL_PORT")
    proc = start("moto", [sys.executable, str(ROOT / "scripts" / "moto_store.py"), "--state", str(MOTO_STATE),
                          "-H", "127.0.0.1", "-p", str(MOTO_PORT)])
    wait_for("moto", lambda: answers(f"{endpoint}/moto-api/") is not None, proc, MOTO_START_S)
    print(f"moto: started at {endpoint}, its state in {MOTO_STATE} (log {HOME / 'moto.log'})")


def ensure_license_server() -> None:
    """The ClearKey license endpoint for encrypted streams, reading keys from the local bucket.

    It alone gets the token secret in its environment: Airflow and the stages never need it.
    """
    if running("license"):
        return
    inherited = os.environ.get("VIDEO_PIPELINE_LICENSE_SECRET")
    os.environ.update(license_env(HOME))
    try:
        proc = start("license", [sys.executable, "-m", "video_pipeline.license", "serve", "--port", str(LICENSE_PORT)])
    finally:
        if inherited is None:
            os.environ.pop("VIDEO_PIPELINE_LICENSE_SECRET")
    wait_for("license", lambda: answers(f"http://127.0.0.1:{LICENSE_PORT}/") is not None, proc, 30)
    print(f"license: ClearKey licenses on http://127.0.0.1:{LICENSE_PORT}/clearkey (log {HOME / 'license.log'})")


# Notifications: a local receiver of the pipeline's webhooks (docs/notifications.md). ------------------
WEBHOOK_RECORD = HOME / "webhook-deliveries.jsonl"


def ensure_webhook_receiver() -> None:
    """The receiver on 127.0.0.1 (scripts/webhook_receiver.py), verifying signatures, and Airflow's settings
    for it in our environment, which Airflow inherits: its URL, and the secret as an Airflow Variable."""
    os.environ.update(webhook_env(HOME))
    if running("webhooks"):
        return
    proc = start("webhooks", [sys.executable, str(ROOT / "scripts" / "webhook_receiver.py"), "--port",
                              str(WEBHOOK_PORT), "--secret-file", str(webhook_secret_file(HOME)),
                              "--record", str(WEBHOOK_RECORD)])
    wait_for("webhooks", lambda: answers(f"http://127.0.0.1:{WEBHOOK_PORT}/events") == 200, proc, 30)
    print(f"webhooks: a receiver on http://127.0.0.1:{WEBHOOK_PORT}/events (deliveries in {WEBHOOK_RECORD})")


def print_deliveries(vid: str, since: str) -> None:
    """What the local receiver got for the video since ``since`` (ISO 8601): each event, its answer."""
    lines = WEBHOOK_RECORD.read_text().splitlines() if WEBHOOK_RECORD.is_file() else []
    for line in map(json.loads, lines):
        event = line.get("event") or {}
        if event.get("video_id") == vid and line["at"] >= since:
            print(f"webhook  {event['status']:<17}HTTP {line['answer']} at {line['at']}, signature verified "
                  f"(event {event['id']})")


def migrate() -> None:
    print(f"airflow: migrating the database {HOME / 'airflow.db'}")
    with (HOME / "migrate.log").open("wb") as out:
        code = subprocess.run(["airflow", "db", "migrate"], stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        sys.exit(f"airflow db migrate failed (exit {code}); see {HOME / 'migrate.log'}")


def run_bootstrap() -> None:
    """Bucket, table, public site: what the DAG expects to exist (kept from the last ``up`` if it was there)."""
    import boto3

    from video_pipeline.bootstrap import bootstrap
    from video_pipeline.config import Settings

    for line in bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"),
                          sns=boto3.client("sns"), settings=Settings.from_env()):
        print(f"bootstrap: {line}")


def up() -> None:
    ensure_moto()
    ensure_license_server()
    ensure_webhook_receiver()
    proc = None
    if running("airflow"):
        print("airflow: running")
        run_bootstrap()
    else:
        if answers(f"http://localhost:{AIRFLOW_PORT}/") is not None:
            sys.exit(f"something else answers on port {AIRFLOW_PORT}; "
                     "choose another port with VIDEO_PIPELINE_AIRFLOW_PORT")
        migrate()
        run_bootstrap()
        proc = start("airflow", ["airflow", "standalone"])
        print(f"airflow: starting (log {HOME / 'airflow.log'}); the first start takes a minute or two")
    wait_for("airflow", AirflowAPI().ready, proc, 600)
    bucket = os.environ.get("VIDEO_PIPELINE_BUCKET") or "video-pipeline"
    print(f"""
Airflow UI  http://localhost:{AIRFLOW_PORT}
login       {ADMIN} / {admin_password(HOME)}
local AWS   {local_endpoint()} (moto: S3 bucket {bucket}, DynamoDB table, SQS queue; kept until make clean)
upload      http://localhost:{AIRFLOW_PORT}/upload/ (signed in to Airflow), or
            eval "$(make -s env)"; aws s3 cp clip.mp4 s3://{bucket}/incoming/  (or boto3)
            S3 events (video_events) and polling (video_discovery) start its run by themselves
run         make demo [VIDEO=path], or: airflow dags trigger video_pipeline -c '{{"video_key": "incoming/<name>"}}'
backfill    airflow dags trigger video_backfill -c '{{"prefix": "incoming/", "reprocess": false}}'
stop        make down (keeps the runs and what they published); make clean removes them""")


def down() -> None:
    stop("airflow")
    stop("license")
    stop("webhooks")
    stop("moto")  # SIGTERM: moto saves its state once more before it exits


def clean() -> None:
    """``down``, then remove the stack's folder: Airflow's runs and logs, moto's state, the secrets."""
    down()
    if not HOME.exists():
        print(f"{HOME}: already gone")
        return
    ours = HOME == ROOT / ".airflow" or MOTO_STATE.is_dir() or (HOME / "airflow.db").is_file()
    if not ours:  # VIDEO_PIPELINE_LOCAL_HOME pointing at some other folder by mistake
        sys.exit(f"{HOME} holds no airflow.db and no moto/: not the local stack's folder, left alone")
    shutil.rmtree(HOME)
    print(f"{HOME}: removed")


def dags_test(command: list[str]) -> int:
    """Run it with its (long) output in demo.log, printing one line per finished task."""
    begun: dict[str, float] = {}
    with (HOME / "demo.log").open("wb") as out:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None  # stdout=PIPE
        for raw in proc.stdout:
            out.write(raw)
            if match := DAG_TEST_TASK.search(raw.decode(errors="replace")):
                event, task = match.groups()
                if event == "starting":
                    begun[task] = time.monotonic()
                else:
                    print(f"  {task:<17}{time.monotonic() - begun.pop(task, time.monotonic()):6.1f} s")
    code = proc.wait()
    if code:
        print("\n".join((HOME / "demo.log").read_text(errors="replace").splitlines()[-40:]))
    return code




def automatic_run(api: AirflowAPI, vid: str, timeout_s: float = 180) -> str | None:
    """The run that polling or S3 events start for the upload: no manual trigger needed."""
    from video_pipeline.discovery import PIPELINE_DAG_ID, run_id

    api.set_paused(PIPELINE_DAG_ID, False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.run(PIPELINE_DAG_ID, run_id("video", vid)):
            return run_id("video", vid)
        time.sleep(1)
    return None


def page_url(settings, vid: str, item: dict) -> str:
    """The video's page; an encrypted one's with a playback token for it in the fragment (``#token=``)."""
    url = settings.site_url(f"{settings.site_prefix}videos/{vid}/index.html")
    if not item.get("stream", {}).get("encrypted"):
        return url
    from video_pipeline.keys import key_id
    from video_pipeline.tokens import mint

    token = mint(license_env(HOME)["VIDEO_PIPELINE_LICENSE_SECRET"], key_id(vid),
                 settings.license_token_ttl_s, time.time())
    return f"{url}#token={quote(token)}"


def demo(video: Path | None, force: bool, encrypt: bool) -> None:
    import boto3
    from demo_clip import ensure_demo_clip

    from video_pipeline.config import Settings
    from video_pipeline.identity import video_id

    video = video or ensure_demo_clip(ROOT / ".cache" / "demo")
    if not video.is_file():
        sys.exit(f"no such video: {video}")
    ensure_moto()
    ensure_webhook_receiver()
    if encrypt:
        ensure_license_server()
    on_airflow = running("airflow") is not None
    if not on_airflow:
        migrate()
    run_bootstrap()

    settings = Settings.from_env()
    key = f"{settings.incoming_prefix}{video.name}"
    s3 = boto3.client("s3")
    s3.upload_file(str(video), settings.bucket, key)
    vid = video_id(settings.bucket, key, s3.head_object(Bucket=settings.bucket, Key=key)["ETag"])
    print(f"demo: uploaded {video} to s3://{settings.bucket}/{key} (video {vid})")

    conf = {"video_key": key, "force": force, "encrypt": encrypt}
    started, since = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    if on_airflow:
        # Its scheduler would also pick up the tasks of a `dags test` run and run them a second time.
        api = AirflowAPI()
        item = boto3.resource("dynamodb").Table(settings.table).get_item(Key={"video_id": vid}).get("Item")
        run = None if force or (item and item.get("status") == "published") else automatic_run(api, vid)
        if run:
            print(f"demo: the upload started run {run} ({time.monotonic() - started:.0f} s after the upload)")
        else:  # already published (forced, or not picked up): a run of our own
            run = api.trigger("video_pipeline", conf)
            print(f"demo: triggered run {run}")
        print(f"      {api.base}/dags/video_pipeline/runs/{run}")
        succeeded = api.follow("video_pipeline", run)
    else:
        command = ["airflow", "dags", "test", "video_pipeline", "-c", json.dumps(conf)]
        print(f"demo: {shlex.join(command)}  (log {HOME / 'demo.log'})")
        succeeded = dags_test(command) == 0
    item = boto3.resource("dynamodb").Table(settings.table).get_item(Key={"video_id": vid}).get("Item") or {}
    print_deliveries(vid, since)
    status = item.get("status", "not in the table")
    if not succeeded or status != "published":
        where = f" in {item['stage']}: {item.get('failure_reason')}" if item.get("stage") else ""
        sys.exit(f"demo: the run failed; video {vid} is {status}{where}")
    print(f"""demo: published in {time.monotonic() - started:.0f} s

page   {page_url(settings, vid, item)}

moto keeps it, also after `make down` and `make up`, until `make clean`.""")


def print_env() -> None:
    for name, value in {**airflow_env(HOME, local_endpoint()), **license_env(HOME)}.items():
        print(f"export {name}={shlex.quote(value)}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start moto and Airflow in the background")
    commands.add_parser("down", help="stop them; .airflow/ keeps Airflow's runs and moto's state")
    commands.add_parser("clean", help="stop them and remove .airflow/: the runs and everything they published")
    run = commands.add_parser("demo", help="process one video with `airflow dags test` and print its page")
    run.add_argument("--video", type=Path, help="your own video (default: a generated 20 s sample)")
    run.add_argument("--force", action="store_true", help="process again even if already published")
    run.add_argument("--encrypt", action="store_true", help="encrypt the stream; the page URL carries a token")
    commands.add_parser("env", help="print export lines for the airflow CLI")
    args = parser.parse_args()
    if args.command in ("up", "demo"):  # for us, and for everything we start
        os.environ.update(airflow_env(HOME, local_endpoint()))
    if args.command == "up":
        up()
    elif args.command == "down":
        down()
    elif args.command == "clean":
        clean()
    elif args.command == "demo":
        demo(args.video, args.force, args.encrypt)
    else:
        print_env()


if __name__ == "__main__":
    main()
