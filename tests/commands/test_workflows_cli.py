"""`lockgate validate / apply / export` against the real API over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from service.commands import workflows as workflow_commands
from tests.api.conftest import Api, api  # noqa: F401  (the API server fixture)
from tests.factories import simple_workflow

runner = CliRunner()
# The commands as `lockgate` registers them (service.cli.main adds every area's).
app = typer.Typer()
workflow_commands.register(app)


def _env(api: Api) -> dict[str, str]:  # noqa: F811
    key = api.client.headers["Authorization"].removeprefix("Bearer ")
    return {"LOCKGATE_API_URL": str(api.client.base_url), "LOCKGATE_API_KEY": key}


def _write(folder: Path, name: str, document: dict[str, object]) -> Path:
    path = folder / name
    path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document))
    return path


def test_validate_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", simple_workflow("good"))
    ok = runner.invoke(app, ["validate", "-f", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "ok: good (seed, 1 tasks)" in ok.output

    bad = simple_workflow("bad")
    bad["tasks"].append(
        {"task_key": "b", "type": "notebook", "notebook_path": "/x", "depends_on": ["nope"]}
    )
    bad["schedule"] = {"cron": "0 25 * * *"}
    _write(tmp_path, "bad.json", bad)
    failed = runner.invoke(app, ["validate", "-f", str(tmp_path)])
    assert failed.exit_code == 1
    assert "bad.json: $.schedule.cron: the hour field `25`" in failed.output
    assert "bad.json: $.tasks[1].depends_on[0]: names task 'nope'" in failed.output
    assert "good.yaml: ok: good" in failed.output


def test_apply_plans_then_creates_updates_and_prunes(tmp_path: Path, api: Api) -> None:  # noqa: F811
    env = _env(api)
    _write(tmp_path, "a.yaml", simple_workflow("cli-a"))
    _write(tmp_path, "b.json", simple_workflow("cli-b"))
    created = runner.invoke(app, ["apply", "-f", str(tmp_path), "--yes"], env=env)
    assert created.exit_code == 0, created.output
    assert "+ create    cli-a" in created.output and "created cli-b" in created.output

    unchanged = runner.invoke(app, ["apply", "-f", str(tmp_path)], env=env)
    assert unchanged.exit_code == 0, unchanged.output
    assert "= unchanged cli-a" in unchanged.output and "nothing to change" in unchanged.output

    _write(tmp_path, "a.yaml", simple_workflow("cli-a", timeout_seconds=60))
    (tmp_path / "b.json").unlink()
    declined = runner.invoke(app, ["apply", "-f", str(tmp_path), "--prune"], env=env, input="n\n")
    assert declined.exit_code == 1
    assert "~ update    cli-a" in declined.output
    assert '-  "timeout_seconds": 86400' in declined.output
    assert '+  "timeout_seconds": 60' in declined.output
    assert "- delete    cli-b" in declined.output
    assert api.client.get("/api/v1/workflows/cli-b").status_code == 200  # nothing applied

    applied = runner.invoke(app, ["apply", "-f", str(tmp_path), "--prune"], env=env, input="y\n")
    assert applied.exit_code == 0, applied.output
    assert api.client.get("/api/v1/workflows/cli-b").status_code == 404
    settings = api.client.get("/api/v1/workflows/cli-a").json()["job_settings"]
    assert settings["timeout_seconds"] == 60


def test_apply_a_bundle_directory_with_includes(tmp_path: Path, api: Api) -> None:  # noqa: F811
    (tmp_path / "jobs").mkdir()
    (tmp_path / "databricks.yml").write_text("bundle: {name: cli}\ninclude: [jobs/*.yml]\n")
    (tmp_path / "jobs" / "one.yml").write_text(
        "resources: {jobs: {cli-bundled: {tasks: [{task_key: t, spark_python_task:"
        " {python_file: ../src/run.py}}]}}}"
    )
    result = runner.invoke(app, ["apply", "-f", str(tmp_path), "--yes"], env=_env(api))
    assert result.exit_code == 0, result.output
    stored = api.client.get("/api/v1/workflows/cli-bundled").json()
    assert stored["format"] == "bundle"
    python_file = stored["job_settings"]["tasks"][0]["spark_python_task"]["python_file"]
    assert python_file == "/Workspace/Shared/.bundle/cli/default/files/src/run.py"


def test_apply_stops_before_the_api_when_a_file_is_invalid(tmp_path: Path, api: Api) -> None:  # noqa: F811
    _write(tmp_path, "x.yaml", {"name": "cli-x", "tasks": []})
    result = runner.invoke(app, ["apply", "-f", str(tmp_path), "--yes"], env=_env(api))
    assert result.exit_code == 1
    assert "$.tasks: the workflow has no tasks" in result.output
    assert api.client.get("/api/v1/workflows/cli-x").status_code == 404


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_prints_a_document_that_validates(tmp_path: Path, api: Api, fmt: str) -> None:  # noqa: F811
    api.client.post("/api/v1/workflows", json=simple_workflow("cli-e"))
    result = runner.invoke(app, ["export", "cli-e", "--format", fmt], env=_env(api))
    assert result.exit_code == 0, result.output
    path = tmp_path / f"exported.{fmt}"
    path.write_text(result.output)
    checked = runner.invoke(app, ["validate", "-f", str(path)])
    assert checked.exit_code == 0, checked.output
    assert "ok: cli-e (" + ("jobs" if fmt == "json" else "bundle") in checked.output


def test_export_of_an_unknown_workflow_fails(api: Api) -> None:  # noqa: F811
    result = runner.invoke(app, ["export", "nope"], env=_env(api))
    assert result.exit_code == 1
    assert "no workflow is named 'nope'" in result.output


def test_apply_refuses_a_name_defined_twice_before_applying_anything(
    tmp_path: Path,
    api: Api,  # noqa: F811
) -> None:
    _write(tmp_path, "a.yaml", simple_workflow("cli-new"))
    _write(tmp_path, "b.yaml", simple_workflow("cli-dup"))
    _write(tmp_path, "c.json", simple_workflow("cli-dup", timeout_seconds=60))
    result = runner.invoke(app, ["apply", "-f", str(tmp_path), "--yes"], env=_env(api))
    assert result.exit_code == 1
    assert f"c.json: $.name: workflow 'cli-dup' is already defined in {tmp_path / 'b.yaml'}" in (
        result.output
    )
    # Nothing was applied, not even the workflows that were fine.
    assert api.client.get("/api/v1/workflows/cli-new").status_code == 404
    assert api.client.get("/api/v1/workflows/cli-dup").status_code == 404

    checked = runner.invoke(app, ["validate", "-f", str(tmp_path)])
    assert checked.exit_code == 1
    assert "c.json: $.name: workflow 'cli-dup' is already defined" in checked.output


def test_apply_names_workflows_outside_the_files_and_deletes_them_only_with_prune(
    tmp_path: Path,
    api: Api,  # noqa: F811
) -> None:
    env = _env(api)
    outside = api.client.post("/api/v1/workflows", json=simple_workflow("cli-outside"))
    assert outside.status_code == 201
    _write(tmp_path, "in.yaml", simple_workflow("cli-in"))

    kept = runner.invoke(app, ["apply", "-f", str(tmp_path), "--yes"], env=env)
    assert kept.exit_code == 0, kept.output
    assert "  keep      cli-outside (not in these files; --prune deletes it)" in kept.output
    assert "created cli-in" in kept.output and "deleted" not in kept.output
    assert api.client.get("/api/v1/workflows/cli-outside").status_code == 200

    pruned = runner.invoke(app, ["apply", "-f", str(tmp_path), "--prune", "--yes"], env=env)
    assert pruned.exit_code == 0, pruned.output
    assert "- delete    cli-outside" in pruned.output and "deleted cli-outside" in pruned.output
    assert api.client.get("/api/v1/workflows/cli-outside").status_code == 404
    assert api.client.get("/api/v1/workflows/cli-in").status_code == 200


def test_export_prints_what_it_leaves_out_on_stderr(api: Api) -> None:  # noqa: F811
    document = simple_workflow("cli-lossy", webhooks={"on_failure": ["https://h.example.com/x"]})
    assert api.client.post("/api/v1/workflows", json=document).status_code == 201
    result = runner.invoke(app, ["export", "cli-lossy"], env=_env(api))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "cli-lossy"  # stdout is the document alone
    assert "warning: $.webhooks.on_failure: 1 webhook URL(s) are not in the export" in (
        result.stderr
    )
