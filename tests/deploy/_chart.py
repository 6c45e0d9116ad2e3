"""Rendering the Helm chart with Helm's own engine, and reading what it rendered.

helm-python-sdk binds the Helm Go SDK, so `render` is what `helm template` does; the rest
pick objects, containers and environment variables out of the result."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import pytest
import typer
import yaml
from typer.main import get_command

from service.cli import app as cli_app
from service.commands import register_all
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/lockgate"
LOCKGATE_KINDS = {"Deployment", "Job"}  # what runs the image

Doc = dict[str, Any]


def values_file(name: str) -> Doc:
    return dict(yaml.safe_load((CHART / name).read_text()))


def complete_values(redis_url: str = "redis://redis:6379/0", prefix: str = "lockgate") -> Doc:
    """What an operator who lets the chart make the Secret would set."""
    parts = urlsplit(redis_url)
    return {
        "config": {
            "LOCKGATE_QUEUE_PREFIX": prefix,
            "LOCKGATE_DATABRICKS_HOST": "https://adb-1.1.azuredatabricks.net",
        },
        "secret": {
            "values": {
                "LOCKGATE_DATABASE_URL": "postgresql+psycopg://lockgate:pw@postgres:5432/lockgate",
                "LOCKGATE_REDIS_URL": redis_url,
                "LOCKGATE_DATABRICKS_TOKEN": "dapi-not-a-real-token",
                "LOCKGATE_ALERT_SIGNING_SECRET": "not-the-development-secret",
            }
        },
        "worker": {
            "autoscaling": {
                "redis": {
                    "address": f"{parts.hostname}:{parts.port}",
                    "databaseIndex": int(parts.path.strip("/") or 0),
                }
            }
        },
    }


def render(values: Doc | None = None) -> list[Doc]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="lockgate", namespace="lockgate")
    return [
        doc
        for path, text in sorted(files.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[Doc]) -> dict[str, Doc]:
    """Lockgate's Deployments and Jobs by component."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] in LOCKGATE_KINDS
    }


def container(workload: Doc) -> Doc:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def pod_env(docs: list[Doc], component: str) -> dict[str, str]:
    """The variables a component's container starts with (ConfigMap, Secret, then env)."""
    [config] = of_kind(docs, "ConfigMap").values()
    env = dict(config["data"])
    for secret in of_kind(docs, "Secret").values():
        env.update(secret.get("stringData") or {})
    env.update(
        {e["name"]: e["value"] for e in container(workloads(docs)[component]).get("env", [])}
    )
    return env


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith("LOCKGATE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def lockgate_commands() -> dict[str, Any]:
    """The `lockgate` subcommands as the console script builds them (main() registers all)."""
    full = typer.Typer()
    full.registered_commands = list(cli_app.registered_commands)
    full.registered_groups = list(cli_app.registered_groups)
    register_all(full)
    return dict(get_command(full).commands)  # type: ignore[attr-defined]


def deep_merge(base: Doc, override: Doc) -> Doc:
    """Values over defaults, as Helm merges them."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
