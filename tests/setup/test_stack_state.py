"""The local stack keeps its data: moto's state outlives ``make down`` and a crash; ``make clean`` empties it.

Real servers: ``scripts/moto_store.py`` as its own process on a free port, and ``scripts/stack.py``'s own
start, ``down`` and ``clean`` (with ``VIDEO_PIPELINE_LOCAL_HOME`` a temporary folder and a free port, so
nobody's stack on the usual ports is touched). Airflow is not started: its database already stays.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from helpers import wait_until
from local_env import free_port
from moto_store import SAVE_DELAY_S
from processes import answers

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "scripts" / "moto_store.py"
STACK = ROOT / "scripts" / "stack.py"
MB = 2**20
MULTIPART = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=4)
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


def clients(endpoint: str) -> tuple:
    """S3, DynamoDB and SQS clients of ``endpoint``."""
    return tuple(boto3.client(name, endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
                 for name in ("s3", "dynamodb", "sqs"))


class Store:
    """``moto_store.py`` in a process of its own, as ``make up`` starts it."""

    def __init__(self, state: Path, log: Path) -> None:
        self.state, self.log, self.port = state, log, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, str(STORE), "--state", str(self.state), "-p", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: answers(f"{self.endpoint}/moto-api/") is not None or self.proc.poll() is not None,
                   60, "moto_store answers", 0.2)
        assert self.proc.poll() is None, self.log.read_text()

    def saves(self) -> int:
        return self.log.read_text().count("state saved")

    def settled(self) -> int:
        """The number of snapshots once everything written so far is saved: none more for a while."""
        count = -1
        while count != self.saves():
            count = self.saves()
            time.sleep(3 * SAVE_DELAY_S)
        assert count >= 1, self.log.read_text()
        return count

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)
        self.proc.wait(60)
        assert answers(f"{self.endpoint}/moto-api/") is None


@pytest.fixture
def store(tmp_path):
    server = Store(tmp_path / "state", tmp_path / "moto.log")
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def write_everything(endpoint: str) -> dict[str, bytes]:
    """A multi-MB object, a multipart upload from several threads, a DynamoDB item, an SQS message."""
    s3, dynamodb, sqs = clients(endpoint)
    s3.create_bucket(Bucket="media")
    objects = {"one/put.bin": os.urandom(6 * MB), "two/multipart.bin": os.urandom(17 * MB),
               "keys/k.json": b'{"key": "00"}'}
    s3.put_object(Bucket="media", Key="one/put.bin", Body=objects["one/put.bin"])
    s3.upload_fileobj(io.BytesIO(objects["two/multipart.bin"]), "media", "two/multipart.bin", Config=MULTIPART)
    s3.put_object(Bucket="media", Key="keys/k.json", Body=objects["keys/k.json"], ServerSideEncryption="AES256")
    assert s3.head_object(Bucket="media", Key="two/multipart.bin")["ETag"].endswith('-4"')  # it was multipart
    dynamodb.create_table(TableName="videos", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "video_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "video_id", "AttributeType": "S"}])
    dynamodb.put_item(TableName="videos", Item={"video_id": {"S": "v1"}, "status": {"S": "published"}})
    queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="incoming/clip.mp4")
    return objects


def find_everything(endpoint: str, objects: dict[str, bytes]) -> None:
    s3, dynamodb, sqs = clients(endpoint)
    for key, body in objects.items():
        assert s3.get_object(Bucket="media", Key=key)["Body"].read() == body, key
    item = dynamodb.get_item(TableName="videos", Key={"video_id": {"S": "v1"}})["Item"]
    assert item["status"] == {"S": "published"}
    queue = sqs.get_queue_url(QueueName="uploads")["QueueUrl"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue).get("Messages", [])] == ["incoming/clip.mp4"]


def private(folder: Path) -> None:
    """The state holds the content keys: only its owner may read any of it."""
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_stopped_and_started_again_it_has_everything(store):
    store.start()
    objects = write_everything(store.endpoint)
    store.signal(signal.SIGTERM)  # make down
    private(store.state)
    blobs = {p.read_bytes() for p in (store.state / "blobs").iterdir()}
    assert set(objects.values()) <= blobs  # each object's bytes once, in a file of their own

    store.start()
    find_everything(store.endpoint, objects)


def test_reads_and_polls_make_no_snapshot(store):
    """An idle stack polls (S3 lists, DynamoDB reads, the events sensor's SQS receives): no disk writes for them."""
    store.start()
    write_everything(store.endpoint)
    saved = store.settled()
    s3, dynamodb, sqs = clients(store.endpoint)
    queue = sqs.get_queue_url(QueueName="uploads")["QueueUrl"]
    for _ in range(3):
        s3.list_objects_v2(Bucket="media", Prefix="incoming/")
        dynamodb.get_item(TableName="videos", Key={"video_id": {"S": "v1"}})
        dynamodb.scan(TableName="videos")
        sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)
    assert store.settled() == saved  # a snapshot would have followed by now
    dynamodb.put_item(TableName="videos", Item={"video_id": {"S": "v2"}})  # a write is saved
    wait_until(lambda: store.saves() > saved, 30, "a snapshot after the write", 0.2)


def test_killed_it_keeps_what_was_saved_and_drops_deleted_bytes(store):
    store.start()
    objects = write_everything(store.endpoint)
    saved = store.settled()
    s3 = clients(store.endpoint)[0]
    s3.delete_object(Bucket="media", Key="one/put.bin")
    assert store.settled() > saved
    store.signal(signal.SIGKILL)  # a crash: no last save
    assert objects.pop("one/put.bin") not in {p.read_bytes() for p in (store.state / "blobs").iterdir()}

    store.start()
    find_everything(store.endpoint, objects)
    assert "Contents" not in s3.list_objects_v2(Bucket="media", Prefix="one/")


@pytest.mark.parametrize("saved", [b"not a pickle", pickle.dumps({"moto": "4.0.0", "services": {}})],
                         ids=["broken", "another moto"])
def test_an_unreadable_state_stops_it_rather_than_starting_empty(store, saved):
    store.state.mkdir(mode=0o700)
    (store.state / "state.pickle").write_bytes(saved)
    with store.log.open("ab") as out:
        code = subprocess.run([sys.executable, str(STORE), "--state", str(store.state), "-p", str(store.port)],
                              stdout=out, stderr=subprocess.STDOUT, timeout=60).returncode
    assert code != 0
    assert "make clean" in store.log.read_text()
    assert (store.state / "state.pickle").read_bytes() == saved


def stack(home: Path, port: int, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """``scripts/stack.py`` (or its functions, for moto alone) with its folder and port of our own."""
    env = {**os.environ, **CREDENTIALS, "VIDEO_PIPELINE_LOCAL_HOME": str(home), "VIDEO_PIPELINE_LOCAL_PORT": str(port),
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "VIDEO_PIPELINE_BUCKET": "stack-media",
           "VIDEO_PIPELINE_TABLE": "stack-videos", "VIDEO_PIPELINE_EVENTS_QUEUE": "stack-uploads"}
    command = [sys.executable, "-c", code] if code else [sys.executable, str(STACK), *args]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_stack_keeps_it_through_down_and_up_and_clean_empties_it(tmp_path):
    home, port = tmp_path / "stack", free_port()
    endpoint = f"http://127.0.0.1:{port}"
    up = "import stack; stack.ensure_moto(); stack.ensure_moto(); stack.run_bootstrap()"  # make up's moto, twice
    try:
        stack(home, port, code=up)
        s3, dynamodb, sqs = clients(endpoint)
        page = os.urandom(3 * MB)
        s3.put_object(Bucket="stack-media", Key="site/videos/v1/index.html", Body=page)
        dynamodb.put_item(TableName="stack-videos", Item={"video_id": {"S": "v1"}, "status": {"S": "published"}})
        assert "moto: stopped" in stack(home, port, "down").stdout  # make down, twice
        assert "moto: not running" in stack(home, port, "down").stdout
        assert answers(f"{endpoint}/moto-api/") is None

        started = stack(home, port, code=up).stdout
        assert "bucket stack-media: exists" in started, started
        assert s3.get_object(Bucket="stack-media", Key="site/videos/v1/index.html")["Body"].read() == page
        item = dynamodb.get_item(TableName="stack-videos", Key={"video_id": {"S": "v1"}})["Item"]
        assert item["status"] == {"S": "published"}
        # the bucket still tells the queue of uploads: S3's and SQS's state came back together
        queue = sqs.get_queue_url(QueueName="stack-uploads")["QueueUrl"]
        sqs.purge_queue(QueueUrl=queue)
        s3.put_object(Bucket="stack-media", Key="incoming/clip.mp4", Body=b"\0" * 1024)
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
        records = [record for m in messages for record in json.loads(m["Body"]).get("Records", [])]
        keys = [unquote_plus(record["s3"]["object"]["key"]) for record in records]
        assert keys == ["incoming/clip.mp4"]  # S3 events carry the key URL-encoded

        for _ in range(2):  # make clean, twice
            stack(home, port, "clean")
            assert not home.exists()
        assert answers(f"{endpoint}/moto-api/") is None
        stack(home, port, code="import stack; stack.ensure_moto()")
        assert s3.list_buckets()["Buckets"] == []
    finally:
        own = {"VIDEO_PIPELINE_LOCAL_HOME": str(home), "VIDEO_PIPELINE_LOCAL_PORT": str(port)}
        subprocess.run([sys.executable, str(STACK), "down"], cwd=ROOT, env={**os.environ, **own}, capture_output=True,
                       timeout=120)
