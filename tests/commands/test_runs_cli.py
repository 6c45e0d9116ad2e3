"""`lockgate run` and `lockgate runs ...` against a real API with a real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from service.commands import runs as runs_commands
from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_engine_policies import FLAKY
from tests.e2e.test_webhook_to_run import _notebook


@pytest.fixture
def lockgate(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Lockgate]:
    with open_lockgate(
        tmp_path, redis_url, redis_prefix, poll_interval_seconds=0.3, sweep_interval_seconds=0.3
    ) as harness:
        yield harness


@pytest.fixture
def cli(lockgate: Lockgate, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("LOCKGATE_API_URL", str(lockgate.api.base_url))
    monkeypatch.setenv(
        "LOCKGATE_API_KEY", lockgate.api.headers["Authorization"].removeprefix("Bearer ")
    )
    app = typer.Typer()
    runs_commands.register(app)
    return app


def _task(path: str) -> dict[str, object]:
    return {"task_key": "t", "type": "notebook", "notebook_path": path, "max_retries": 0}


def test_run_wait_list_get_repair_and_cancel(
    lockgate: Lockgate, cli: typer.Typer, tmp_path: Path
) -> None:
    _notebook(lockgate, "/Tests/flaky", FLAKY)
    _notebook(lockgate, "/Tests/forever", "import time\n---\ntime.sleep(60)")
    for name, path in (("flaky", "/Tests/flaky"), ("forever", "/Tests/forever")):
        created = lockgate.api.post(
            "/api/v1/workflows", json={"name": name, "tasks": [_task(path)]}
        )
        assert created.status_code == 201, created.text
    lockgate.start_worker()
    runner = CliRunner()
    marker = tmp_path / "count"

    failed = runner.invoke(
        cli,
        ["run", "flaky", "--param", f"marker={marker}", "--param", "fail_times=1", "--wait"],
    )
    assert failed.exit_code == 1, failed.output
    assert "  t: FAILED" in failed.output and ": failed (attempt 1)" in failed.output
    run_id = failed.output.split("run ", 1)[1].split(":", 1)[0]

    listed = runner.invoke(cli, ["runs", "list", "--workflow", "flaky"])
    assert listed.exit_code == 0 and run_id in listed.output and "failed" in listed.output

    repaired = runner.invoke(cli, ["runs", "repair", run_id])
    assert repaired.exit_code == 0, repaired.output
    assert "attempt 2" in repaired.output
    run = lockgate.api.get(f"/api/v1/runs/{run_id}").json()
    deadline_run = run
    for _ in range(200):
        deadline_run = lockgate.api.get(f"/api/v1/runs/{run_id}").json()
        if ended(deadline_run):
            break
        time.sleep(0.1)
    assert deadline_run["status"] == "succeeded", deadline_run
    got = runner.invoke(cli, ["runs", "get", run_id])
    assert got.exit_code == 0 and '"repair"' in got.output

    started = runner.invoke(cli, ["run", "forever"])
    assert started.exit_code == 0
    event_id = started.output.split("event ", 1)[1].split()[0]
    running = lockgate.wait_for_run(event_id, lambda r: r["status"] == "running")
    cancelled = runner.invoke(cli, ["runs", "cancel", running["id"]])
    assert cancelled.exit_code == 0 and "cancel requested" in cancelled.output
    final = lockgate.wait_for_run(event_id, ended, timeout=30)
    assert final["status"] == "canceled" and final["cancel_reason"] == "user"

    again = runner.invoke(cli, ["runs", "cancel", running["id"]])
    assert again.exit_code == 1 and "409" in again.output
    bad = runner.invoke(cli, ["run", "flaky", "--param", "oops"])
    assert bad.exit_code == 1 and "key=value" in bad.output
