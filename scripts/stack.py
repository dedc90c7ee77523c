"""The embedded local stack: moto server as S3 and DynamoDB, and Airflow, on this machine.

    make up      moto + Airflow (UI on http://localhost:8080) in the background
    make demo    one DAG run on a sample video, then the page's URL: ``airflow dags test``,
                 or a run triggered on the Airflow that ``up`` started
    make env     ``export`` lines for the airflow CLI against this stack
    make down    stop what ``up`` and ``demo`` started; .airflow/ keeps Airflow's database and logs

Everything lives in ``.airflow/`` (git-ignored): Airflow's home and SQLite
database, the admin password, and each background process's pid and log. The
processes run in their own sessions, so they outlive ``make`` and ``down``
stops each one's whole process group. moto keeps S3 and DynamoDB in memory:
``down`` loses the videos, ``up`` creates the empty bucket and table again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".airflow"
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "scripts"), str(ROOT / "bench")]

import local_models  # noqa: E402

log = logging.getLogger("stack")

ADMIN = "admin"
MOTO_ACCOUNT = "123456789012"
REGION = "us-east-1"
MOTO_PORT = int(os.environ.get("VIDEO_PIPELINE_LOCAL_PORT", "5000"))
AIRFLOW_PORT = int(os.environ.get("VIDEO_PIPELINE_AIRFLOW_PORT", "8080"))
# What the command line of a process we started contains: a recycled pid is never signalled.
PROCESSES = {"airflow": "airflow standalone", "moto": "moto.server", "license": "video_pipeline.license"}
LICENSE_PORT = int(os.environ.get("VIDEO_PIPELINE_LICENSE_PORT", "5001"))
FINISHED = ("success", "failed", "skipped", "upstream_failed", "removed")
DAG_TEST_TASK = re.compile(r"\[DAG TEST\] (starting|end task) task_id=(\S+)")


def local_endpoint() -> str:
    return f"http://127.0.0.1:{MOTO_PORT}"


def admin_password(home: Path) -> str:
    """The admin's password for the simple auth manager, generated once per Airflow home."""
    path = home / "passwords.json"
    passwords = json.loads(path.read_text()) if path.is_file() else {}
    if ADMIN not in passwords:
        passwords[ADMIN] = secrets.token_urlsafe(12)
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords))
        path.chmod(0o600)
    return passwords[ADMIN]


def worker_models() -> dict[str, str]:
    """Local weights where this machine has them; otherwise the worker downloads the standard models."""
    try:
        return local_models.worker_env("base")
    except (FileNotFoundError, ImportError, StopIteration, AttributeError) as exc:
        log.warning("local model weights not found (%s); models will be downloaded on first use", exc)
        return {}


def events_queue_url(endpoint: str) -> str:
    """moto names queues after its default account; on AWS, bootstrap prints the URL to set."""
    from video_pipeline.config import Settings

    queue = Settings.from_env().events_queue
    return os.environ.get("VIDEO_PIPELINE_EVENTS_QUEUE_URL") or (f"{endpoint}/{MOTO_ACCOUNT}/{queue}" if queue else "")


def airflow_env(home: Path, endpoint: str, port: int = AIRFLOW_PORT) -> dict[str, str]:
    """The variables for Airflow and its worker subprocesses; lay them over ``os.environ``."""
    admin_password(home)  # the api-server reads the file; create it before anything starts
    models = worker_models()
    base_url = f"http://localhost:{port}"
    python_path = os.pathsep.join(p for p in (str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the DAG only runs when triggered
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",  # a laptop needs one; the default starts four
        "AIRFLOW__CORE__PARALLELISM": "8",  # LocalExecutor starts this many worker processes
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",  # standalone runs a triggerer: sensors wait there
        "VIDEO_PIPELINE_EVENTS_QUEUE_URL": events_queue_url(endpoint),
        "VIDEO_PIPELINE_LICENSE_URL": os.environ.get("VIDEO_PIPELINE_LICENSE_URL")
        or f"http://127.0.0.1:{LICENSE_PORT}/clearkey",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": REGION}}),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "PYTHONPATH": python_path,
        # the venv's airflow and video-worker, also when this runs without make
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **models,
        # With VIDEO_PIPELINE_RUNNER=docker: containers reach moto on this host's loopback, and the weights.
        "VIDEO_PIPELINE_DOCKER_NETWORK_MODE": os.environ.get("VIDEO_PIPELINE_DOCKER_NETWORK_MODE") or "host",
        "VIDEO_PIPELINE_DOCKER_MOUNTS": os.environ.get("VIDEO_PIPELINE_DOCKER_MOUNTS")
        or local_models.docker_mounts(models),
    }


# Background processes -------------------------------------------------------------------------

def running(name: str) -> int | None:
    """The pid of our ``name`` process if it is still alive, checked against its command line."""
    pid_file = HOME / f"{name}.pid"
    if not pid_file.is_file():
        return None
    pid = int(pid_file.read_text())
    command = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True).stdout
    if PROCESSES[name] not in command:
        pid_file.unlink()
        return None
    return pid


def start(name: str, command: list[str]) -> subprocess.Popen:
    """Start in a session of its own, so it outlives us and ``down`` can stop its whole process group."""
    HOME.mkdir(parents=True, exist_ok=True)
    with (HOME / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
    (HOME / f"{name}.pid").write_text(str(proc.pid))
    return proc


def stop(name: str, grace_s: float = 30) -> None:
    pid = running(name)
    if pid is None:
        print(f"{name}: not running")
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(pid, signal.SIGKILL)
    (HOME / f"{name}.pid").unlink(missing_ok=True)
    print(f"{name}: stopped")


def answers(url: str) -> int | None:
    """The HTTP status at ``url``, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for(name: str, ready: Callable[[], bool], proc: subprocess.Popen | None, timeout_s: float) -> None:
    """Poll ``ready()`` until it is true; stop with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        exited = proc is not None and proc.poll() is not None
        if exited or time.monotonic() > deadline:
            tail = (HOME / f"{name}.log").read_text(errors="replace").splitlines()[-30:]
            why = f"exited with {proc.returncode}" if exited else f"not ready after {timeout_s:.0f} s"
            sys.exit(f"{name} {why}; the end of {HOME / f'{name}.log'}:\n" + "\n".join(tail))
        time.sleep(1)


def ensure_moto() -> None:
    endpoint = local_endpoint()
    if running("moto"):
        print(f"moto: running at {endpoint}")
        return
    if answers(endpoint) is not None:
        sys.exit(f"something else answers at {endpoint}; choose another port with VIDEO_PIPELINE_LOCAL_PORT")
    proc = start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)])
    wait_for("moto", lambda: answers(f"{endpoint}/moto-api/") is not None, proc, 60)
    print(f"moto: started at {endpoint} (log {HOME / 'moto.log'})")


def ensure_license_server() -> None:
    """The ClearKey license endpoint for encrypted streams, reading keys from the local bucket."""
    if running("license"):
        return
    proc = start("license", [sys.executable, "-m", "video_pipeline.license", "--port", str(LICENSE_PORT)])
    wait_for("license", lambda: answers(f"http://127.0.0.1:{LICENSE_PORT}/") is not None, proc, 30)
    print(f"license: ClearKey licenses on http://127.0.0.1:{LICENSE_PORT}/clearkey (log {HOME / 'license.log'})")


class AirflowAPI:
    """The REST API of a running Airflow, as the admin of the simple auth manager."""

    def __init__(self, home: Path = HOME, port: int = AIRFLOW_PORT) -> None:
        self.home = home
        self.base = f"http://localhost:{port}"
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self._token}"} if self._token else {})},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def call(self, method: str, path: str, body: dict | None = None, tries: int = 5) -> dict:
        """A call; server errors (SQLite busy under the scheduler) are tried again."""
        if self._token is None:
            login = {"username": ADMIN, "password": admin_password(self.home)}
            self._token = self._request("POST", "/auth/token", login)["access_token"]
        for attempt in range(1, tries + 1):
            try:
                return self._request(method, f"/api/v2{path}", body)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == tries:
                    raise
                time.sleep(attempt)

    def ready(self) -> bool:
        """The API answers and the scheduler, DAG processor and triggerer heartbeat."""
        try:
            status = self._request("GET", "/api/v2/monitor/health")
        except (OSError, ValueError):
            return False
        return all(part.get("status") == "healthy" for part in status.values())

    def set_paused(self, dag_id: str, paused: bool, timeout_s: float = 180) -> None:
        """Right after a start the DAG processor may not have parsed the DAG yet: wait for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def trigger(self, dag_id: str, conf: dict, run_id: str | None = None) -> str:
        body = {"logical_date": None, "conf": conf, **({"dag_run_id": run_id} if run_id else {})}
        return self.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of the DAG, oldest first."""
        found: list[dict] = []
        while True:
            page = self.call("GET", f"/dags/{dag_id}/dagRuns?order_by=run_after&limit=100&offset={len(found)}")
            found += page["dag_runs"]
            if len(found) >= page["total_entries"] or not page["dag_runs"]:
                return found

    def run(self, dag_id: str, run_id: str) -> dict | None:
        try:
            return self.call("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def follow(self, dag_id: str, run_id: str) -> bool:
        """Print each task as it finishes; True when the run succeeds."""
        path = f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        reported: set[str] = set()
        while True:
            for ti in self.call("GET", f"{path}/taskInstances")["task_instances"]:
                if ti["state"] in FINISHED and ti["task_id"] not in reported:
                    reported.add(ti["task_id"])
                    print(f"  {ti['task_id']:<17}{ti.get('duration') or 0:6.1f} s  {ti['state']}")
            state = self.call("GET", path)["state"]
            if state in ("success", "failed"):
                return state == "success"
            time.sleep(3)


# Steps ----------------------------------------------------------------------------------------

def migrate() -> None:
    print(f"airflow: migrating the database {HOME / 'airflow.db'}")
    with (HOME / "migrate.log").open("wb") as out:
        code = subprocess.run(["airflow", "db", "migrate"], stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        sys.exit(f"airflow db migrate failed (exit {code}); see {HOME / 'migrate.log'}")


def run_bootstrap() -> None:
    """Bucket, table, public site: what the DAG expects to exist (it lives in memory in moto)."""
    import boto3

    from video_pipeline.bootstrap import bootstrap
    from video_pipeline.config import Settings

    for line in bootstrap(s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"),
                          settings=Settings.from_env()):
        print(f"bootstrap: {line}")


def up() -> None:
    ensure_moto()
    ensure_license_server()
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
local AWS   {local_endpoint()} (moto: S3 bucket {bucket}, DynamoDB table, SQS queue; in memory until make down)
upload      eval "$(make -s env)"; aws s3 cp clip.mp4 s3://{bucket}/incoming/  (or boto3)
            S3 events (video_events) and polling (video_discovery) start its run by themselves
run         make demo [VIDEO=path], or: airflow dags trigger video_pipeline -c '{{"video_key": "incoming/<name>"}}'
backfill    airflow dags trigger video_backfill -c '{{"prefix": "incoming/", "reprocess": false}}'
stop        make down""")


def down() -> None:
    stop("airflow")
    stop("license")
    stop("moto")


def dags_test(command: list[str]) -> int:
    """Run it with its (long) output in demo.log, printing one line per finished task."""
    begun: dict[str, float] = {}
    with (HOME / "demo.log").open("wb") as out:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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


@contextmanager
def standalone(home: Path, env: dict[str, str], port: int, timeout_s: float = 600) -> Iterator[AirflowAPI]:
    """A throwaway ``airflow standalone`` for tests and benchmarks, stopped on exit; its log in ``home``."""
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    with (home / "standalone.log").open("wb") as log:
        proc = subprocess.Popen(["airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
        api = AirflowAPI(home, port)
        try:
            deadline = time.monotonic() + timeout_s
            while not api.ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (home / "standalone.log").read_text(errors="replace")[-5000:]
                    raise RuntimeError(f"airflow standalone did not become healthy:\n{tail}")
                time.sleep(2)
            yield api
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


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


def demo(video: Path | None, force: bool) -> None:
    import boto3

    from clip import ensure_clip
    from video_pipeline.config import Settings
    from video_pipeline.identity import video_id

    video = video or ensure_clip(ROOT / ".cache" / "demo", 20).path
    if not video.is_file():
        sys.exit(f"no such video: {video}")
    ensure_moto()
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

    conf = {"video_key": key, "force": force}
    started = time.monotonic()
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
    status = item.get("status", "not in the table")
    if not succeeded or status != "published":
        where = f" in {item['stage']}: {item.get('failure_reason')}" if item.get("stage") else ""
        sys.exit(f"demo: the run failed; video {vid} is {status}{where}")
    print(f"""demo: published in {time.monotonic() - started:.0f} s

page   {settings.site_url(f"{settings.site_prefix}videos/{vid}/index.html")}

moto keeps serving it until `make down`.""")


def print_env() -> None:
    for name, value in airflow_env(HOME, local_endpoint()).items():
        print(f"export {name}={shlex.quote(value)}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start moto and Airflow in the background")
    commands.add_parser("down", help="stop them; .airflow/ keeps Airflow's data")
    run = commands.add_parser("demo", help="process one video with `airflow dags test` and print its page")
    run.add_argument("--video", type=Path, help="your own video (default: a generated 20 s sample)")
    run.add_argument("--force", action="store_true", help="process again even if already published")
    commands.add_parser("env", help="print export lines for the airflow CLI")
    args = parser.parse_args()
    if args.command in ("up", "demo"):  # for us, and for everything we start
        os.environ.update(airflow_env(HOME, local_endpoint()))
    if args.command == "up":
        up()
    elif args.command == "down":
        down()
    elif args.command == "demo":
        demo(args.video, args.force)
    else:
        print_env()


if __name__ == "__main__":
    main()
