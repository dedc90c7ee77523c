"""Models are configuration, not input (security issue 23, finding 1).

A run's ``detect_model`` and ``whisper_model`` become the worker's ``--model``. Loading a model runs code
(a ``.pt`` checkpoint is a pickle) and fetching one reaches the network, so a name from input may only pick
the worker's configured model, a model in its model directory, or a standard name its library fetches from
its own source. The attacks run the real ``video-worker`` CLI against a tiny HTTP server on 127.0.0.1 that
stands in for the attacker's host (and for the Hugging Face Hub), serving a checkpoint whose unpickling
creates a marker file: a marker means the attacker's code ran.
"""

from __future__ import annotations

import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHECKPOINT_BYTES = 200_000  # above the 100 kB ultralytics wants of a download before it loads it


class _Payload:
    """Unpickled, it opens (creates) the marker file: proof that a load ran code the file chose."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def evil_checkpoint(path: Path, marker: Path) -> Path:
    data = pickle.dumps(_Payload(marker), protocol=2)
    path.write_bytes(data + b"\0" * (CHECKPOINT_BYTES - len(data)))
    return path


@pytest.fixture
def attack(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving the evil checkpoint for any path, recording each request; the
    worker runs in ``models/`` (its model directory), with the same checkpoint one level up."""
    marker = tmp_path / "pwned"
    body = evil_checkpoint(tmp_path / "evil.pt", marker).read_bytes()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    monkeypatch.chdir(model_dir)  # the worker's working directory: where ultralytics saves what it downloads
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "requests": requests, "marker": marker,
           "evil": tmp_path / "evil.pt", "model_dir": model_dir, "out": tmp_path / "out"}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def clip(make_media) -> Path:
    """One second of video with a tone: transcribe loads its model only when there is audio."""
    return make_media("models-attack.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1",
                      "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-shortest",
                      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")


def assert_refused(result, value: str, attack: dict) -> None:
    assert result.returncode == 3, (result.returncode, result.manifest, result.stderr[-2000:])
    assert result.manifest["kind"] == "usage" and value in result.manifest["error"], result.manifest
    assert attack["requests"] == [], "the worker reached for the model"
    assert not attack["marker"].exists(), "the attacker's checkpoint was unpickled"


@pytest.mark.parametrize("how", ["url", "absolute path", "relative path out of the model dir"])
def test_detect_refuses_a_model_from_input_before_fetching_or_loading_it(run_worker, clip, attack, how):
    """``--model http://127.0.0.1:PORT/evil.pt``: ultralytics downloaded it (even with YOLO_OFFLINE=1)
    and unpickled it; a path to the same file outside the model directory loaded it as well."""
    value = {"url": f"{attack['url']}/evil.pt", "absolute path": str(attack["evil"]),
             "relative path out of the model dir": "../evil.pt"}[how]
    result = run_worker("detect", "--source", clip, "--dest", attack["out"], "--model", value,
                        env={"VIDEO_WORKER_MODEL_DIR": str(attack["model_dir"]), "YOLO_OFFLINE": "1"})
    assert_refused(result, value, attack)
    assert "VIDEO_WORKER_MODEL_DIR" in result.manifest["error"] and "yolo11x.pt" in result.manifest["error"]


def test_a_checkpoint_in_the_model_dir_is_loaded_without_running_its_code(run_worker, clip, attack):
    """Even a trusted place holds only weights: ultralytics loads .pt with weights_only, so a pickle that
    would run code is refused instead of executed, and the stage fails as a configuration error (exit 3),
    not retried."""
    (attack["model_dir"] / "planted.pt").write_bytes(attack["evil"].read_bytes())
    result = run_worker("detect", "--source", clip, "--dest", attack["out"], "--model", "planted.pt",
                        env={"VIDEO_WORKER_MODEL_DIR": str(attack["model_dir"])})
    assert (result.returncode, result.manifest.get("kind")) == (3, "config"), result.manifest  # not retried
    assert "planted.pt cannot be loaded" in result.manifest["error"]
    assert not attack["marker"].exists(), "the checkpoint's pickle ran code"


@pytest.mark.parametrize("value", ["{url}/evil.pt", "attacker/evil-whisper", "/etc/passwd", "../evil.pt"])
def test_transcribe_refuses_a_model_from_input_before_fetching_or_loading_it(run_worker, clip, attack, value):
    """``attacker/evil-whisper`` is a Hugging Face repository: faster-whisper fetched any one from the Hub,
    here the local server standing in for it (HF_ENDPOINT), with downloads on."""
    value = value.format(url=attack["url"])
    result = run_worker("transcribe", "--source", clip, "--dest", attack["out"], "--model", value,
                        env={"VIDEO_WORKER_MODEL_DIR": str(attack["model_dir"]), "VIDEO_WORKER_MODEL_DOWNLOADS": "true",
                             "HF_ENDPOINT": attack["url"], "HF_HUB_OFFLINE": "0"})
    assert_refused(result, value, attack)
    assert "VIDEO_WORKER_MODEL_DIR" in result.manifest["error"] and "large-v3" in result.manifest["error"]


def test_model_names_resolve_only_to_configuration(tmp_path):
    from video_worker.errors import UsageError
    from video_worker.models import WHISPER_NAMES, resolve

    (tmp_path / "small-finetuned").mkdir()
    outside = tmp_path.parent / "x"

    def pick(name: str, downloads: bool = True) -> str:
        return resolve(name, configured="/opt/weights/base", model_dir=tmp_path, standard=WHISPER_NAMES,
                       downloads=downloads)

    assert pick("/opt/weights/base") == "/opt/weights/base"  # the configured model, wherever it is
    assert pick("small-finetuned") == str(tmp_path / "small-finetuned")
    assert pick("large-v3") == "large-v3"  # its library fetches it from its own source
    for bad in ["https://example.com/m.pt", "HTTP://example.com/m.pt", "file:///etc/passwd", "s3://b/m.pt",
                "hf://attacker/model", "attacker/model", "/etc/passwd", str(outside), "../x", "..", ".",
                "a/../../x", "", "not-a-model", "base\n"]:
        with pytest.raises(UsageError) as refused:
            pick(bad)
        assert repr(bad) in str(refused.value), bad
    with pytest.raises(UsageError, match="VIDEO_WORKER_MODEL_DOWNLOADS"):
        pick("large-v3", downloads=False)  # downloads off: standard names only from the model directory


def test_the_standard_names_are_those_the_libraries_fetch_themselves():
    """Each allowed name is one its library maps to its own fixed source (no name is passed through)."""
    import whisper
    from faster_whisper.utils import available_models
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    from video_worker.models import WHISPER_NAMES, YOLO_NAMES

    assert set(YOLO_NAMES) <= GITHUB_ASSETS_NAMES
    assert set(WHISPER_NAMES) <= set(whisper.available_models()) & set(available_models())


# --- the Airflow side: a run's params pick from the deployment's lists ---

@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    assert bag.import_errors == {}
    return bag.dags["video_pipeline"]


BAD_MODELS = [("detect_model", "http://127.0.0.1:8765/evil.pt"), ("detect_model", "/etc/passwd"),
              ("whisper_model", "attacker/evil-whisper"), ("whisper_model", "../base")]


@pytest.mark.parametrize(("param", "value"), BAD_MODELS)
def test_the_trigger_params_refuse_a_model_not_on_the_list(dag, param, value):
    """What creating a run does with its conf (the trigger form, the REST API, ``airflow dags trigger``):
    the serialized DAG's params merged with it and validated."""
    from airflow.sdk.exceptions import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    params = DagSerialization.from_dict(DagSerialization.to_dict(dag)).params
    with pytest.raises(ParamValidationError, match=param):
        params.deep_merge({"video_key": "incoming/a.mp4", param: value}).validate()
    params.deep_merge({"video_key": "incoming/a.mp4", "detect_model": "yolo11s.pt",
                       "whisper_model": "base"}).validate()  # names on the lists pass


@pytest.mark.parametrize(("param", "value"), BAD_MODELS)
def test_register_refuses_a_model_not_on_the_list_before_touching_anything(dag, param, value, monkeypatch):
    """``airflow dags test`` and a sweep's retry start runs whose conf no form checked: register fails them
    first, before it reads S3 or the catalog (here an endpoint where nothing listens)."""
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")

    from video_pipeline.config import Settings
    from video_pipeline.model_params import check
    from video_pipeline.run_params import RunParamError

    settings = Settings.from_env()
    params = {**dag.params.dump(), "video_key": "incoming/a.mp4", param: value}  # the defaults, and the attack
    with pytest.raises(RunParamError) as refused:
        check(settings, params)
    assert param in str(refused.value) and repr(value) in str(refused.value)
    assert f"VIDEO_PIPELINE_{param.split('_')[0].upper()}_MODELS" in str(refused.value)
    with pytest.raises(AirflowFailException, match=param):
        dag.get_task("register").python_callable(params=params, run_id="manual__attack")
    check(settings, params | {param: None})  # empty: the worker's own model
    check(settings, params | {"detect_model": "yolo11s.pt", "whisper_model": "base"})  # names on the lists
