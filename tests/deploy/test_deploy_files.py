"""No Docker engine runs here, so the deploy files are checked statically: the compose
file parses under the Compose specification (compose-spec's validating parser, after YAML
merge keys are resolved as Compose does), and every command the image is started with is
a real `lockgate` command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from compose_spec import PyCompose
from typer.main import get_command

from service.cli import app
from service.commands import register_all

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _lockgate_commands() -> set[str]:
    full = typer.Typer()
    full.registered_commands = list(app.registered_commands)
    full.registered_groups = list(app.registered_groups)
    register_all(full)
    return set(get_command(full).commands)  # type: ignore[attr-defined]


def test_compose_file_is_valid_compose() -> None:
    compose = PyCompose.from_json(json.dumps(_compose()))
    assert {
        "api",
        "worker",
        "scheduler",
        "listener",
        "migrate",
        "redis",
        "postgres",
        "azurite",
        "mail",
    } <= set(compose.service_names())


def test_a_broken_compose_file_is_refused_by_the_same_check() -> None:
    broken = _compose()
    broken["services"]["api"]["ports"] = ["not-a-port"]
    with pytest.raises(ValueError, match="port range"):
        PyCompose.from_json(json.dumps(broken))


def test_every_lockgate_service_runs_a_real_command_and_waits_for_its_dependencies() -> None:
    commands = _lockgate_commands()
    services = _compose()["services"]
    built = {n: s for n, s in services.items() if "build" in s}
    assert set(built) >= {"api", "worker", "scheduler", "listener", "migrate"}
    for name, service in built.items():
        assert service["command"][0] in commands, name
    assert "healthcheck" in services["api"] and "healthcheck" in services["redis"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_image_is_multi_stage_non_root_and_starts_lockgate() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.M)
    assert json.loads(entrypoint) == ["lockgate"]
    [cmd] = re.findall(r"^CMD (.+)$", dockerfile, re.M)
    assert json.loads(cmd)[0] in _lockgate_commands()
    # The console script the entrypoint names is the one pyproject installs.
    assert 'lockgate = "service.cli:main"' in (ROOT / "pyproject.toml").read_text()
