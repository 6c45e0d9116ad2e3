"""The local Databricks backend under uvicorn on a free port, shared by the session.

Tests talk to it over HTTP (httpx, the databricks-sdk, Lockgate's own client). Each test
writes its notebooks under its own workspace folder and its marker files under its own
temp dir, so tests never see each other's files; runs are told apart by job id.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.databricks.local import LocalBackendConfig, create_local_backend
from tests.servers import serve_app

TOKEN = "dapi-local-test"
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


@dataclass(frozen=True)
class RunningBackend:
    url: str
    config: LocalBackendConfig


@contextmanager
def start_backend(root: Path, **overrides: Any) -> Iterator[RunningBackend]:
    """A backend of its own (for tests that need another config than the session's)."""
    config = LocalBackendConfig(
        workspace_dir=root / "workspace",
        dbfs_root=root / "dbfs",
        runs_dir=root / "runs",
        **overrides,
    )
    with serve_app(create_local_backend(config)) as url:
        yield RunningBackend(url, config)


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBackend]:
    with start_backend(tmp_path_factory.mktemp("local-backend"), max_parallel_tasks=8) as backend:
        yield backend


@pytest.fixture
def api(local_backend: RunningBackend) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=local_backend.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def notebook(local_backend: RunningBackend, request: pytest.FixtureRequest) -> Callable[..., str]:
    """write(name, *cells) -> the notebook's workspace path; cells are Python source."""
    folder = "/Tests/" + re.sub(r"\W+", "_", request.node.name)

    def write(name: str, *cells: str) -> str:
        path = f"{folder}/{name}"
        file = local_backend.config.workspace_dir / f"{path.lstrip('/')}.py"
        file.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n# COMMAND ----------\n\n".join(cells)
        file.write_text(f"# Databricks notebook source\n{body}\n", encoding="utf-8")
        return path

    return write


def notebook_task(
    key: str, path: str, *, depends_on: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    params = extra.pop("params", {})
    task: dict[str, Any] = {
        "task_key": key,
        "notebook_task": {"notebook_path": path, "base_parameters": params},
        **extra,
    }
    if depends_on:
        task["depends_on"] = [{"task_key": upstream} for upstream in depends_on]
    return task


class Jobs:
    """Small steps over the HTTP API that most tests share."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method, f"/api/2.2/jobs/{path}", **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create(self, *tasks: dict[str, Any], **settings: Any) -> int:
        body = {"name": settings.pop("name", "test-job"), "tasks": list(tasks), **settings}
        return int(self.call("POST", "create", json=body)["job_id"])

    def run_now(self, job_id: int, **fields: Any) -> int:
        return int(self.call("POST", "run-now", json={"job_id": job_id, **fields})["run_id"])

    def get(self, run_id: int) -> dict[str, Any]:
        return self.call("GET", "runs/get", params={"run_id": run_id})

    def output(self, task_run_id: int) -> dict[str, Any]:
        return self.call("GET", "runs/get-output", params={"run_id": task_run_id})

    def wait_until(
        self, run_id: int, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if predicate(run):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} never got there: {json.dumps(run)[:2000]}")
            time.sleep(0.05)

    def wait(self, run_id: int, timeout: float = 30) -> dict[str, Any]:
        return self.wait_until(
            run_id, lambda run: run["state"]["life_cycle_state"] in TERMINAL, timeout
        )


@pytest.fixture
def jobs(api: httpx.Client) -> Jobs:
    return Jobs(api)


def attempts_of(run: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Every attempt of a task: the Jobs API lists each attempt as its own task run."""
    attempts = [task for task in run.get("tasks", []) if task["task_key"] == key]
    assert attempts, f"no task {key} in {run.get('tasks')}"
    return sorted(attempts, key=lambda task: task["attempt_number"])


def task_of(run: dict[str, Any], key: str) -> dict[str, Any]:
    """The latest attempt of a task."""
    return attempts_of(run, key)[-1]


def latest_attempts(run: dict[str, Any]) -> list[dict[str, Any]]:
    keys = dict.fromkeys(task["task_key"] for task in run["tasks"])
    return [task_of(run, key) for key in keys]


def task_states(run: dict[str, Any]) -> dict[str, str]:
    return {task["task_key"]: task["state"]["life_cycle_state"] for task in latest_attempts(run)}


def task_results(run: dict[str, Any]) -> dict[str, str | None]:
    return {task["task_key"]: task["state"].get("result_state") for task in latest_attempts(run)}


def wait_for_file(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} was never written")
        time.sleep(0.02)
    return path.read_text()


def process_is_gone(pid: int) -> bool:
    """True when the pid no longer runs (gone, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


# Notebook cell: block until the test creates <gate_dir>/release (or 20 s pass).
WAIT_FOR_RELEASE = """
import os, time
gate = dbutils.widgets.get("gate_dir")
open(os.path.join(gate, dbutils.widgets.get("name") + ".started"), "w").write("yes")
deadline = time.time() + 20
while not os.path.exists(os.path.join(gate, "release")) and time.time() < deadline:
    time.sleep(0.02)
"""


def write_wheel(path: Path) -> None:
    """A pure-Python wheel with a console-script entry point (importable as a zip)."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            "greeter/__init__.py",
            "import sys\n"
            "def main():\n"
            "    print('argv', sys.argv[1:])\n"
            "    return 0 if '--fail=yes' not in sys.argv else 3\n",
        )
        info = "local_greeter-1.0.dist-info"
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: local-greeter\nVersion: 1.0\n"
        )
        wheel.writestr(f"{info}/entry_points.txt", "[console_scripts]\ngreet = greeter:main\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        wheel.writestr(f"{info}/RECORD", "")
