"""moto server whose S3, DynamoDB, SQS and SNS outlive it: a snapshot in a folder, loaded when it starts.

    python scripts/moto_store.py --state .airflow/moto -H 127.0.0.1 -p 5000

The same server as ``python -m moto.server``, which keeps everything in memory. This one also keeps a
snapshot of those services' backends on disk: written ``SAVE_DELAY_S`` after a write request (a burst of
segment uploads makes one snapshot), once more when it stops (SIGTERM: ``make down``), and loaded before
it answers. A crash (SIGKILL) loses only the writes of the last ``SAVE_DELAY_S`` and of the snapshot then
being written: the snapshot on disk is always a whole one (written aside, then renamed). Nothing is
fsynced (thousands of segment files each a sync cost seconds per snapshot): what a killed process wrote
the kernel keeps, but a power cut or kernel crash can lose the last snapshots.

A snapshot is a pickle of the backends' objects (``state.pickle``) with each S3 object's bytes in a file
of its own named by their SHA-256 (``blobs/``), written once: the snapshot after a new segment writes that
segment and the pickle of the small objects, not every video again. They hold the videos' content keys
(``keys/`` in the bucket), so the folder is 0700 and its files 0600. Only this server writes them; a
pickle runs code when loaded, so the folder must stay this user's.

Not moto's recorder (``MOTO_ENABLE_RECORDING``), which appends every request, reads and SQS polls
included, to one file and replays it all at start: on moto 5.2.5 the parts of a multipart upload that
boto3 sends from several threads interleave in that file and the replay stops at the first broken line
(everything lost), and parts sent one at a time are replayed into a new random upload id, so the object
is lost; and the file, and the replay's time, grow with every request ever made, not with what is kept.
"""

from __future__ import annotations

import argparse
import copyreg
import hashlib
import logging
import mmap
import os
import pickle
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import moto
from moto.backends import get_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeKey
from werkzeug.serving import make_server

log = logging.getLogger("moto_store")

SERVICES = ("s3", "dynamodb", "sqs", "sns")  # what the pipeline and bootstrap use; others stay in memory
SAVE_DELAY_S = 1.0  # after a write, wait this long for more: a task's burst of uploads is one snapshot
SAVE_TRIES = 5  # a write that resizes a dict mid-pickle stops it; the snapshot starts again
READS = frozenset({"GET", "HEAD", "OPTIONS"})  # S3's reads; SQS and DynamoDB POST every call, named in X-Amz-Target
# The POSTed calls that an idle stack makes all the time (polling, the events sensor's receive every 20 s) and
# that change nothing worth a snapshot: a received message's visibility is transient, its delete is a write.
READ_ACTIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive",
    "ReceiveMessage", "GetQueueUrl", "GetQueueAttributes", "ListQueues", "ListQueueTags",
})
CHUNK_BYTES = 16 * 2**20  # an S3 object's bytes are copied in blocks of this size, as moto streams them
STATE_FILE, BLOB_FOLDER = "state.pickle", "blobs"
DIGEST = "_moto_store_digest"  # the attribute of an S3 key with its bytes' (SHA-256, size)
# Locks inside the backends (an S3 key's, an SQS queue's condition) are not state: a new one each on load.
LOCKS: dict[type, Callable[[], Any]] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
    threading.Condition: threading.Condition,
}


class StateError(RuntimeError):
    """The state folder cannot be read back or written: nothing is started on a part of it."""


@dataclass(frozen=True)
class _Blob:
    """An S3 object's bytes, in the pickle by their digest only."""

    digest: str


class Blobs:
    """S3 objects' bytes, one 0600 file each, named by its SHA-256.

    A key's bytes never change once moto made it, so each key carries its digest (``DIGEST``, in the
    pickle too): a snapshot, also the first after a load, hashes and writes only keys new since.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, key: FakeKey) -> str:
        """The digest of the key's bytes, written to a file the first time."""
        known = vars(key).get(DIGEST)
        if known is not None and known[1] == key.contentsize and (self.folder / known[0]).is_file():
            return str(known[0])
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".put-")  # mode 0600
        sha = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, key.lock:
            try:
                key._value_buffer.seek(0)  # the bytes in blocks, not one copy of a whole video in memory
                while block := key._value_buffer.read(CHUNK_BYTES):
                    sha.update(block)
                    out.write(block)
            except ValueError:  # a deleted key's buffer is closed; moto pickles it empty too
                pass
        digest = sha.hexdigest()
        os.replace(tmp, self.folder / digest)
        setattr(key, DIGEST, (digest, key.contentsize))
        return digest

    def read(self, digest: str) -> memoryview:
        """The bytes, mapped: the pickle keeps every key's state until the load ends, but not a copy on the heap."""
        try:
            with (self.folder / digest).open("rb") as file:
                if os.fstat(file.fileno()).st_size == 0:
                    return memoryview(b"")
                return memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
        except FileNotFoundError as exc:
            missing = self.folder / digest
            raise StateError(f"{missing} is missing: the state in {self.folder.parent} is incomplete") from exc

    def keep_only(self, digests: set[str]) -> None:
        """Remove the bytes of deleted objects (and of writes a crash left half done)."""
        for path in self.folder.iterdir():
            if path.name not in digests:
                path.unlink(missing_ok=True)


class _Pickler(pickle.Pickler):
    def __init__(self, file: BinaryIO, blobs: Blobs) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.blobs = blobs
        self.digests: set[str] = set()

    def persistent_id(self, obj: Any) -> str | None:
        return obj.digest if type(obj) is _Blob else None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, FakeKey):  # its __getstate__ would copy the bytes into the pickle
            digest = self.blobs.put(obj)
            state = {name: value for name, value in vars(obj).items() if name not in ("_value_buffer", "lock")}
            self.digests.add(digest)
            state["value"] = _Blob(digest)  # FakeKey.__setstate__ takes the bytes from "value"
            return copyreg.__newobj__, (type(obj),), state  # type: ignore[attr-defined]  # pickle's NEWOBJ
        if type(obj) in LOCKS:
            return LOCKS[type(obj)], ()
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, blobs: Blobs) -> None:
        super().__init__(file)
        self.blobs = blobs

    def persistent_load(self, pid: Any) -> memoryview:
        return self.blobs.read(str(pid))


class Store:
    """The snapshot of ``SERVICES`` in ``folder``: ``save()`` writes the backends, ``load()`` puts them back."""

    def __init__(self, folder: Path, services: Iterable[str] = SERVICES) -> None:
        self.folder, self.services = folder, tuple(services)
        self.blobs = Blobs(folder / BLOB_FOLDER)
        for path in (folder, self.blobs.folder):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.chmod(0o700)  # also when it was made before, or by someone's umask

    @property
    def path(self) -> Path:
        return self.folder / STATE_FILE

    def save(self) -> None:
        for _ in range(SAVE_TRIES):
            try:
                self._save_once()
                return
            except RuntimeError as exc:  # "dictionary changed size during iteration": a request wrote meanwhile
                log.info("a write during the snapshot (%s): again", exc)
        raise StateError(f"no snapshot after {SAVE_TRIES} tries: writes kept changing the state")

    def _save_once(self) -> None:
        state = {"moto": moto.__version__,
                 "services": {name: _backend_state(get_backend(name)) for name in self.services}}  # type: ignore[call-overload]
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".state-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                pickler = _Pickler(out, self.blobs)
                pickler.dump(state)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.blobs.keep_only(pickler.digests)

    def load(self) -> bool:
        """Put the saved backends in place of moto's; False when there is no snapshot yet."""
        if not self.path.is_file():
            return False
        try:
            with self.path.open("rb") as file:
                state = _Unpickler(file, self.blobs).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError) as exc:
            raise StateError(f"{self.path} cannot be read ({exc!r}); `make clean` empties the local stack") from exc
        if state["moto"] != moto.__version__:  # its objects' fields may differ: fail now, not on some request later
            raise StateError(f"{self.path} was saved by moto {state['moto']}, this is moto {moto.__version__}; "
                             "`make clean` empties the local stack")
        for name, saved in state["services"].items():
            if name in self.services:
                _restore(get_backend(name), saved)
        return True


def _backend_state(backends: Any) -> dict[str, Any]:
    """A service's backends per account and region, and the dict's own fields (S3's bucket-to-account map)."""
    return {"fields": {name: value for name, value in vars(backends).items() if name != "_id"},
            "accounts": {account: dict(regions) for account, regions in backends.items()}}


def _restore(backends: Any, saved: dict[str, Any]) -> None:
    backends.__dict__.update(saved["fields"])
    for account, regions in saved["accounts"].items():
        backends[account].update(regions)  # backends[account] makes the account's dict, as a request would


def _may_write(environ: dict[str, Any]) -> bool:
    if environ.get("REQUEST_METHOD") in READS:
        return False
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2] not in READ_ACTIONS


class _NoteWrites:
    """WSGI middleware: sets ``changed`` after each request that may have changed the state."""

    def __init__(self, app: Any, changed: threading.Event) -> None:
        self.app, self.changed = app, changed

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return self.app(environ, start_response)
        finally:
            if _may_write(environ):
                self.changed.set()


def _keep_saving(store: Store, changed: threading.Event, stopping: threading.Event) -> None:
    while not stopping.is_set():
        if not changed.wait(0.5) or stopping.wait(SAVE_DELAY_S):
            continue
        changed.clear()  # before the snapshot: a write during it makes another
        began = time.monotonic()
        try:
            store.save()
        except Exception:  # the server keeps serving; the next write tries again
            log.exception("moto's state could not be saved to %s", store.folder)
            changed.set()
            continue
        log.info("state saved to %s in %.2f s", store.folder, time.monotonic() - began)


def serve(*, state: Path, host: str, port: int) -> None:
    """Load ``state``, serve until SIGTERM or SIGINT, then save it once more."""
    os.environ.setdefault("MOTO_PORT", str(port))  # moto writes it into the queue URLs it returns
    store = Store(state)
    began = time.monotonic()
    if store.load():
        log.info("state loaded from %s in %.2f s", state, time.monotonic() - began)
    changed, stopping, stop = threading.Event(), threading.Event(), threading.Event()
    server = make_server(host, port, _NoteWrites(DomainDispatcherApplication(create_backend_app), changed),
                         threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="serve")
    saving = threading.Thread(target=_keep_saving, args=(store, changed, stopping), name="save")
    serving.start()
    saving.start()
    log.info("moto on http://%s:%d, its state in %s", host, port, state)
    while not stop.wait(1):
        pass
    server.shutdown()
    stopping.set()
    saving.join()
    store.save()
    log.info("stopped; state saved to %s", state)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True, help="the folder of the snapshot (made if missing)")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    serve(state=args.state, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
