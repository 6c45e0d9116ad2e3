"""The Helm chart, checked without a cluster: Helm's own engine (helm-python-sdk binds the
Helm Go SDK, so `render` and `lint` are what `helm template` and `helm lint` do) renders it
with the default, the Azure and a complete set of values; every object is then checked
against the Kubernetes OpenAPI schemas (kubernetes-validate, strict) or, for KEDA's kinds,
its CRD models (cloudcoil). What the objects point at is checked against the code: the
commands parse with the real `lockgate` CLI, the API's probe paths answer over HTTP, the
worker's exec probe is run against a real worker, and the list KEDA watches is the one a
real Celery publish fills in Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import helm_python as helm
import httpx
import jsonschema
import kubernetes_validate
import pytest
import redis
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from fastapi import FastAPI
from typer.exceptions import TyperException

from service.app import create_app
from service.runs.queue import SWEEP, make_celery
from service.settings import Settings
from tests.deploy._chart import (
    CHART,
    ROOT,
    Doc,
    complete_values,
    container,
    deep_merge,
    lockgate_commands,
    of_kind,
    pod_env,
    render,
    settings_from,
    values_file,
    workloads,
)
from tests.servers import free_port, serve_app
from workers.celery_app import create_celery

DOCKERFILE = (ROOT / "deploy/Dockerfile").read_text()
# The chart's kubeVersion floor (Chart.yaml), and the newest schemas the validator ships.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
# The trigger metadata KEDA's redis (lists) scaler reads; its CRD leaves metadata free-form.
KEDA_REDIS_KEYS = {
    *("address", "host", "port", "addressFromEnv", "hostFromEnv", "portFromEnv"),
    *("usernameFromEnv", "passwordFromEnv", "databaseIndex", "enableTLS", "unsafeSsl"),
    *("listName", "listLength", "activationListLength"),
}


ALL_VALUES = {
    "default": None,
    "azure": values_file("values-azure.yaml"),
    "complete": complete_values(),
}


@pytest.fixture(params=sorted(ALL_VALUES))
def rendered(request: pytest.FixtureRequest) -> list[Doc]:
    return render(ALL_VALUES[request.param])


def test_helm_lints_the_chart_strictly() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={KUBE_VERSIONS[0]}-0"
    for values in ALL_VALUES.values():
        report = helm.lint(str(CHART), values, strict=True, namespace="lockgate")
        assert report["errors"] == []
        # Helm's severities: 1 info, 2 warning, 3 error. Only "icon is recommended" is left.
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_values_files_meet_the_schema_and_bad_values_are_refused() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = values_file("values.yaml")
    jsonschema.Draft7Validator(schema).validate(defaults)
    # values-azure.yaml is an overlay: Helm merges it over the defaults before checking.
    jsonschema.Draft7Validator(schema).validate(
        deep_merge(defaults, values_file("values-azure.yaml"))
    )
    # Each bad value, and where the schema says it is wrong.
    bad: list[tuple[Doc, tuple[str, ...]]] = [
        ({"config": {"DATABASE_URL": "x"}}, ("config",)),  # not a LOCKGATE_* setting
        (
            {"worker": {"autoscaling": {"redis": {"address": "redis"}}}},  # no port
            ("worker", "autoscaling", "redis", "address"),
        ),
        ({"azureWorkloadIdentity": {"enabled": True}}, ("azureWorkloadIdentity", "clientId")),
    ]
    for override, path in bad:
        merged = deep_merge(values_file("values.yaml"), override)
        errors = jsonschema.Draft7Validator(schema).iter_errors(merged)
        assert [tuple(e.absolute_path) for e in errors] == [path]
        with pytest.raises(helm.HelmValuesError):  # Helm checks the same schema when it renders
            render(override)


def test_every_object_is_valid_for_kubernetes_or_keda(rendered: list[Doc]) -> None:
    keda_models = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}
    for doc in rendered:
        if doc["apiVersion"] == "keda.sh/v1alpha1":
            model = keda_models[doc["kind"]].model_validate(doc)
            # The models ignore unknown fields; a round trip that loses one shows it.
            assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == doc
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "Job"} <= kinds


def test_the_validators_refuse_a_misspelt_field() -> None:
    docs = render(complete_values())
    deployment = of_kind(docs, "Deployment")["lockgate-api"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)
    scaled = of_kind(docs, "ScaledObject")["lockgate-worker"]
    scaled["spec"]["maxReplicas"] = 3  # the field is maxReplicaCount
    dumped = ScaledObject.model_validate(scaled).model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    assert dumped != scaled


def test_each_lockgate_compose_service_has_a_workload_running_its_command() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    built = {name: s for name, s in compose.items() if "build" in s}
    # The local Databricks backend stands in for a workspace in development only; in a
    # cluster Lockgate talks to a real one. Redis, PostgreSQL, Azurite and the mail catcher
    # are managed services there (Azure Cache for Redis, Azure Database for PostgreSQL, ...).
    built.pop("local-databricks")
    found = workloads(render(complete_values()))
    for name, service in built.items():
        assert container(found[name])["args"][0] == service["command"][0], name
    assert found["migrate"]["kind"] == "Job"
    deployments = {name for name, doc in found.items() if doc["kind"] == "Deployment"}
    assert deployments == {"api", "worker", "beat", "scheduler", "listener"}


def test_every_container_runs_a_real_lockgate_command_through_the_image_entrypoint(
    rendered: list[Doc],
) -> None:
    commands = lockgate_commands()
    assert re.findall(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.M) == ['["lockgate"]']
    for component, workload in workloads(rendered).items():
        spec = container(workload)
        assert "command" not in spec, component  # the image's ENTRYPOINT, lockgate, runs
        name, *options = spec["args"]
        commands[name].make_context(name, list(options))  # raises on an unknown option
    with pytest.raises(TyperException, match="--concurency"):
        commands["worker"].make_context("worker", ["--concurency", "8"])


def test_the_trigger_loops_liveness_probes_are_real_lockgate_checks(rendered: list[Doc]) -> None:
    commands = lockgate_commands()
    for component in ("scheduler", "listener"):
        probe = container(workloads(rendered)[component])["livenessProbe"]["exec"]["command"]
        program, name, *options = probe
        assert (program, name) == ("lockgate", component) and "--check" in options
        commands[name].make_context(name, list(options))  # raises on an unknown option


def test_only_the_single_beat_pod_runs_celery_beat() -> None:
    found = workloads(render(complete_values()))
    assert "--beat" in container(found["beat"])["args"]
    assert found["beat"]["spec"]["replicas"] == 1
    assert found["beat"]["spec"]["strategy"] == {"type": "Recreate"}
    assert all("--beat" not in container(w)["args"] for c, w in found.items() if c != "beat")


def test_pods_run_as_the_image_user_on_a_read_only_root_with_resources(
    rendered: list[Doc],
) -> None:
    [uid] = re.findall(r"useradd .*--uid (\d+)", DOCKERFILE)
    [data_dir] = re.findall(r"LOCKGATE_DATA_DIR=(\S+)", DOCKERFILE)
    for component, workload in workloads(rendered).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == uid
        spec = container(workload)
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"] for m in spec["volumeMounts"]}
        assert {data_dir, "/tmp"} <= mounts, component  # the only places Lockgate writes
        assert {"cpu", "memory"} <= set(spec["resources"]["requests"]), component
        assert "memory" in spec["resources"]["limits"], component


def test_every_setting_the_chart_passes_is_a_lockgate_setting(
    rendered: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings ignores unknown LOCKGATE_* names, so a misspelt one would be lost silently.
    for component in workloads(rendered):
        env = pod_env(rendered, component)
        for name in env:
            if name.startswith("LOCKGATE_"):
                field = name.removeprefix("LOCKGATE_").lower().split("__")[0]
                assert field in Settings.model_fields, name
    settings = settings_from(pod_env(render(complete_values()), "api"), monkeypatch)
    assert settings.environment == "production"
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8080)


def test_azure_values_use_workload_identity_for_databricks_and_blob(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    azure = values_file("values-azure.yaml")
    docs = render(azure)
    [account] = of_kind(docs, "ServiceAccount").values()
    client_id = azure["azureWorkloadIdentity"]["clientId"]
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"] == client_id
    for component, workload in workloads(docs).items():
        template = workload["spec"]["template"]
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true", component
        assert template["spec"]["serviceAccountName"] == account["metadata"]["name"]
        secret_ref = container(workload)["envFrom"][1]["secretRef"]["name"]
        assert secret_ref == azure["secret"]["existingSecret"]
    assert of_kind(docs, "Secret") == {}  # the operator's Secret is used, none is made
    # The Secret's keys (from Key Vault) plus the ConfigMap make valid production settings.
    env = pod_env(docs, "worker") | {
        "LOCKGATE_DATABASE_URL": "postgresql+psycopg://u:p@db:5432/lockgate",
        "LOCKGATE_REDIS_URL": "rediss://:key@lockgate.redis.cache.windows.net:6380/0",
        "LOCKGATE_ALERT_SIGNING_SECRET": "from-key-vault",
        "LOCKGATE_CONSOLE_ENTRA_CLIENT_SECRET": "from-key-vault",
    }
    settings = settings_from(env, monkeypatch)
    assert settings.databricks_auth == "azure"
    assert settings.databricks_azure_credential == "default"  # finds the federated token
    assert settings.blob_use_identity is True
    [auth] = of_kind(docs, "TriggerAuthentication").values()
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "lockgate-secrets", "key": "REDIS_PASSWORD"}
    ]
    default = render()
    assert "annotations" not in next(iter(of_kind(default, "ServiceAccount").values()))["metadata"]
    assert all(
        "azure.workload.identity/use" not in w["spec"]["template"]["metadata"]["labels"]
        for w in workloads(default).values()
    )


def test_autoscalers_own_the_replica_counts_they_scale() -> None:
    docs = render(complete_values())
    deployments = of_kind(docs, "Deployment")
    [hpa] = of_kind(docs, "HorizontalPodAutoscaler").values()
    [scaled] = of_kind(docs, "ScaledObject").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert scaled["spec"]["scaleTargetRef"]["name"] in deployments
    assert "replicas" not in deployments[hpa["spec"]["scaleTargetRef"]["name"]]["spec"]
    assert "replicas" not in deployments[scaled["spec"]["scaleTargetRef"]["name"]]["spec"]
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "redis"
        assert set(trigger["metadata"]) <= KEDA_REDIS_KEYS
    off = {"enabled": False}
    docs = render({"api": {"autoscaling": off}, "worker": {"autoscaling": off}})
    assert not of_kind(docs, "HorizontalPodAutoscaler") and not of_kind(docs, "ScaledObject")
    assert of_kind(docs, "Deployment")["lockgate-api"]["spec"]["replicas"] == 2


def test_a_config_change_rolls_the_pods() -> None:
    def checksums(values: Doc) -> set[str]:
        found = of_kind(render(values), "Deployment").values()
        return {d["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for d in found}

    before = complete_values()
    after = complete_values()
    after["config"]["LOCKGATE_POLL_INTERVAL_SECONDS"] = "7"
    assert len(checksums(before)) == 1 and checksums(before) != checksums(after)


def test_keda_watches_the_redis_list_that_celery_fills(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(complete_values(redis_url, redis_prefix))
    settings = settings_from(pod_env(docs, "worker"), monkeypatch)
    # The lists the worker consumes: each queue under the transport's global key prefix.
    worker_app = create_celery(settings)
    prefix = worker_app.conf.broker_transport_options["global_keyprefix"]
    consumed = {prefix + queue for queue in worker_app.amqp.queues}
    [scaled] = of_kind(docs, "ScaledObject").values()
    watched = {t["metadata"]["listName"]: t["metadata"] for t in scaled["spec"]["triggers"]}
    assert set(watched) == consumed
    # And a real publish lands where KEDA looks, on the server and database it names.
    publisher = make_celery(settings)
    publisher.send_task(SWEEP)
    publisher.close()
    worker_app.close()
    for list_name, meta in watched.items():
        host, port = meta["address"].rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), db=int(meta["databaseIndex"]))
        try:
            assert client.llen(list_name) == 1
        finally:
            client.close()


def test_api_probe_paths_answer_on_the_port_the_pod_exposes(
    redis_url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(complete_values(redis_url))
    api = container(workloads(docs)["api"])
    settings = settings_from(pod_env(docs, "api"), monkeypatch)
    [port] = api["ports"]
    assert (port["name"], port["containerPort"]) == ("http", settings.api_port)
    probes = {kind: api[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    assert all(p["port"] == "http" for p in [*probes.values(), api["readinessProbe"]["httpGet"]])
    closed = f"http://127.0.0.1:{free_port()}"
    local = settings.model_copy(update={"database_url": sqlite_url, "databricks_host": closed})
    with serve_app(create_app(local)) as url:
        for probe in probes.values():
            assert httpx.get(url + probe["path"]).status_code == 200
        unready = httpx.get(url + api["readinessProbe"]["httpGet"]["path"])
        assert unready.status_code == 503  # the workspace does not answer
        assert unready.json()["checks"]["databricks"].startswith("failed")
    with serve_app(FastAPI()) as workspace:  # any HTTP answer counts as reachable
        reachable = local.model_copy(update={"databricks_host": workspace})
        with serve_app(create_app(reachable)) as url:
            ready = httpx.get(url + api["readinessProbe"]["httpGet"]["path"])
            assert ready.status_code == 200, ready.text


@pytest.fixture
def worker_env(redis_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    docs = render(complete_values(redis_url, redis_prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env |= pod_env(docs, "worker")
    env["LOCKGATE_DATA_DIR"] = str(tmp_path)  # the pod's emptyDir
    env["LOCKGATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'lockgate.db'}"
    return env


def test_the_worker_liveness_probe_passes_for_a_live_worker_and_fails_without_one(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    found = workloads(render(complete_values()))
    worker = container(found["worker"])
    probe = worker["livenessProbe"]["exec"]["command"]
    assert container(found["beat"])["livenessProbe"]["exec"]["command"] == probe
    assert probe[:3] == ["lockgate", "worker", "--check"]
    run_probe = [sys.executable, "-m", "service.cli", *probe[1:]]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", *worker["args"]],
            env=worker_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        alive = subprocess.run(run_probe, env=worker_env, cwd=ROOT, timeout=30)
        assert alive.returncode == 0, log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    gone = subprocess.run(run_probe, env=worker_env, cwd=ROOT, timeout=30)
    assert gone.returncode == 1
