"""The kubernetes runner: the pods that KubernetesPodOperator would create, rendered and checked.

No cluster runs here, so these check the pod specs Airflow builds (the same objects it would send
to the Kubernetes API) and the exit-code reading; docs/production.md says it has not run on a cluster.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

from tests.dags.test_dag_definition import MANIFESTS, REGISTRATION, _dagbag, _run
from video_pipeline.stages import PermanentInputError

XCOMS = {"register": REGISTRATION, "probe": {**MANIFESTS["probe"], "duration_s": 30.0}}
PARAMS = {"language": "fr", "translate": False, "ladder": "720,360"}


@pytest.fixture
def kubernetes_dag(monkeypatch):
    settings = {"RUNNER": "kubernetes", "WORKER_IMAGE": "registry.example/video-worker:1.2.3",
                "K8S_NAMESPACE": "media", "K8S_SERVICE_ACCOUNT": "video-worker", "K8S_ENV_SECRET": "video-aws",
                "K8S_GPU_NODE_SELECTOR": "nvidia.com/gpu.present=true,pool=gpu",
                "K8S_GPU_TOLERATIONS": "nvidia.com/gpu:NoSchedule,dedicated=media:NoExecute", "K8S_MEMORY": "6Gi",
                "K8S_CPU_LIMIT": "3"}
    for name, value in settings.items():
        monkeypatch.setenv(f"VIDEO_PIPELINE_{name}", value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://moto.media:5000")
    monkeypatch.setenv("VIDEO_WORKER_WHISPER_MODEL", "small")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-never-in-a-pod")
    bag = _dagbag()
    assert bag.import_errors == {}
    return bag.dags["video_pipeline"]


def _pod(dag, task_id: str) -> tuple[k8s.V1Pod, dict]:
    task = _run(dag, task_id, XCOMS, PARAMS)
    pod = task.build_pod_request_obj(dry_run=True)  # what `airflow tasks ... dry_run` prints: no cluster needed
    return pod, ApiClient().sanitize_for_serialization(pod)


def test_gpu_stages_request_a_gpu_on_the_gpu_nodes(kubernetes_dag):
    pod, spec = _pod(kubernetes_dag, "transcribe")
    base = next(c for c in pod.spec.containers if c.name == "base")
    assert base.image == "registry.example/video-worker:1.2.3"
    assert base.command == ["video-worker"]
    assert base.args == ["transcribe", "--source", "s3://media/incoming/a b.mp4",
                         "--source-etag", "9e107d9d372bb6826bd81d3542a419d6",  # the upload's version
                         "--dest", "s3://media/work/0123456789abcdef/transcribe/", "--language", "fr",
                         "--no-translate"]
    assert base.resources.limits == {"cpu": "3", "memory": "6Gi", "nvidia.com/gpu": "1"}  # memory: the request
    assert base.resources.requests == {"cpu": "1", "memory": "6Gi"}
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true", "pool": "gpu"}
    assert [(t.key, t.operator, t.value, t.effect) for t in pod.spec.tolerations] == [
        ("nvidia.com/gpu", "Exists", None, "NoSchedule"), ("dedicated", "Equal", "media", "NoExecute")]
    assert (pod.metadata.namespace, pod.spec.service_account_name) == ("media", "video-worker")
    assert pod.metadata.labels["video-pipeline/stage"] == "transcribe"
    assert spec["spec"]["containers"][0]["name"] == "base"


def test_cpu_stages_get_no_gpu_and_no_gpu_node_constraints(kubernetes_dag):
    pod, _ = _pod(kubernetes_dag, "transcode")
    base = next(c for c in pod.spec.containers if c.name == "base")
    assert base.args[:2] == ["transcode", "--source"] and base.args[-2:] == ["--ladder", "720,360"]
    assert base.resources.limits == {"cpu": "3", "memory": "6Gi"} and base.resources.requests == {"cpu": "1",
                                                                                                   "memory": "6Gi"}
    assert not pod.spec.node_selector and not pod.spec.tolerations


def test_the_result_comes_back_through_the_xcom_sidecar_and_secrets_stay_out(kubernetes_dag):
    pod, spec = _pod(kubernetes_dag, "detect")
    base = next(c for c in pod.spec.containers if c.name == "base")
    env = {e.name: e.value for e in base.env}
    assert env["VIDEO_WORKER_RESULT_FILE"] == "/airflow/xcom/return.json"
    assert (env["AWS_ENDPOINT_URL"], env["VIDEO_WORKER_WHISPER_MODEL"]) == ("http://moto.media:5000", "small")
    assert {c.name for c in pod.spec.containers} == {"base", "airflow-xcom-sidecar"}
    assert any(m.mount_path == "/airflow/xcom" for m in base.volume_mounts)
    assert [e.secret_ref.name for e in base.env_from] == ["video-aws"]  # credentials from a Secret
    assert "s3cr3t-never-in-a-pod" not in json.dumps(spec)
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_exit_codes_are_read_from_the_pods_status():
    from operators.pod_stage import exit_code

    def pod(**state) -> k8s.V1Pod:
        status = k8s.V1ContainerStatus(name="base", image="w", image_id="", ready=False, restart_count=0,
                                       state=k8s.V1ContainerState(**state))
        return k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=[status]))

    assert exit_code(pod(terminated=k8s.V1ContainerStateTerminated(exit_code=2)), "base") == 2
    assert exit_code(pod(terminated=k8s.V1ContainerStateTerminated(exit_code=0)), "base") == 0
    assert exit_code(pod(waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff")), "base") is None
    assert exit_code(None, "base") is None


def _terminated(code: int, reason: str = "Error") -> k8s.V1ContainerState:
    return k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=code, reason=reason))


# The exit-code contract through the operator (tests/dags/test_stage_contract.py has the other runners'):
# (case, the base container's state, the result file served as XCom, expected exception exactly, message).
POD_CASES = [
    ("exit 0: the manifest", _terminated(0, "Completed"), MANIFESTS["probe"], None, ""),
    ("exit 0 without a manifest: retried", _terminated(0, "Completed"), None, AirflowException,
     "exit 0 without a manifest"),
    ("exit 1: retried", _terminated(1), {"error": "ConnectionError", "kind": "transient", "stage": "probe"},
     AirflowException, "exit 1, transient"),
    ("exit 2: permanent", _terminated(2), {"error": "The file is empty (0 bytes).", "kind": "input"},
     PermanentInputError, "probe: The file is empty (0 bytes)."),
    ("exit 3: invalid options", _terminated(3), {"error": "invalid ladder", "kind": "usage"},
     AirflowFailException, "invalid options: invalid ladder"),
    ("exit 3: a tool missing, a configuration error", _terminated(3),
     {"error": "Shaka Packager ('packager') cannot be run", "kind": "config"}, AirflowFailException,
     "configuration error"),
    ("out of memory (137, OOMKilled): retried", _terminated(137, "OOMKilled"), None, AirflowException,
     "killed by signal 9 (SIGKILL)"),
    ("never ran (image not pulled): the pod's error, retried",
     k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff")), None,
     AirflowException, "Pod probe-x returned a failure"),
]


@pytest.mark.parametrize(("state", "result", "expected", "message"), [c[1:] for c in POD_CASES],
                         ids=[c[0] for c in POD_CASES])
def test_the_pod_runner_maps_every_exit(monkeypatch, state, result, expected, message):
    """KubernetesPodOperator ran the pod (no cluster here): what it leaves is a real V1Pod and the result file."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from operators.pod_stage import VideoStagePodOperator

    status = k8s.V1ContainerStatus(name="base", image="w", image_id="", ready=False, restart_count=0, state=state)
    pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="probe-x"), status=k8s.V1PodStatus(container_statuses=[status]))

    def ran(self, context):
        self.remote_pod, self._result = pod, result
        if not (state.terminated and state.terminated.exit_code == 0):
            raise AirflowException(f"Pod {pod.metadata.name} returned a failure.")

    monkeypatch.setattr(KubernetesPodOperator, "execute", ran)
    task = VideoStagePodOperator(task_id="probe", stage="probe", registration=REGISTRATION, image="w", name="probe")
    task.render_template_fields({"params": {}, "task": task})
    if expected is None:
        assert task.execute({}) == result
        return
    with pytest.raises(Exception) as raised:
        task.execute({})
    assert raised.type is expected, f"{raised.type.__name__}: {raised.value}"
    assert message in str(raised.value)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("K8S_GPU_NODE_SELECTOR", "gpu", "'gpu' is not key=value"),
    ("K8S_GPU_TOLERATIONS", "nvidia.com/gpu:Sometimes", "is not key\\[=value\\]:Effect"),
])
def test_malformed_settings_are_refused_with_the_setting_named(monkeypatch, setting, value, message):
    from video_pipeline.config import Settings, SettingsError

    monkeypatch.setenv(f"VIDEO_PIPELINE_{setting}", value)
    with pytest.raises(SettingsError, match=f"VIDEO_PIPELINE_{setting}: .*{message}"):
        Settings.from_env()


def test_helm_values_configure_the_kubernetes_runner_with_known_settings():
    """deploy/helm/values.yaml: every VIDEO_PIPELINE_* it sets is a setting, at the pinned Airflow version."""
    import re

    import yaml

    from tests.dags.test_dag_definition import ROOT
    from video_pipeline.config import Settings

    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    env = {item["name"]: item["value"] for item in values["env"]}
    known = {f"VIDEO_PIPELINE_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in env if name.startswith("VIDEO_PIPELINE_")} <= known
    assert env["VIDEO_PIPELINE_RUNNER"] == "kubernetes" and values["executor"] == "KubernetesExecutor"
    assert values["allowPodLaunching"] is True
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements-airflow.txt").read_text(), re.M)
    assert pinned, "requirements-airflow.txt pins apache-airflow"
    assert values["airflowVersion"] == pinned[1]
    assert env["VIDEO_PIPELINE_K8S_ENV_SECRET"] in values["extraEnvFrom"]
    # Airflow's database is an external one, its URL in a Secret; the embedded Postgres and Redis are off.
    assert (values["postgresql"]["enabled"], values["redis"]["enabled"]) == (False, False)
    assert values["data"] == {"metadataSecretName": "video-pipeline-metadata"}


def test_every_stage_pod_gets_limits_and_a_memory_limit_of_its_request_unless_set(monkeypatch):
    """Requests alone let one video's pod take a node's memory; limits make it that pod's OOM kill."""
    from video_pipeline.config import Settings
    from video_pipeline.pods import pod_options

    defaults = Settings.from_env()
    for stage, gpu in (("transcode", {}), ("detect", {"nvidia.com/gpu": "1"})):
        resources = pod_options(defaults, stage)["container_resources"]
        assert resources.limits == {"cpu": "1", "memory": "4Gi", **gpu} and resources.requests == {"cpu": "1",
                                                                                                  "memory": "4Gi"}
    settings = Settings.from_env(k8s_cpu_limit="4", k8s_memory_limit="8Gi")
    assert pod_options(settings, "transcode")["container_resources"].limits == {"cpu": "4", "memory": "8Gi"}
