"""run-now's legacy per-task-type parameters: each reaches its tasks and is echoed in the
run's ``overriding_parameters``; the Jobs API's checks on them give 400s."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databricks.local.conftest import (
    TOKEN,
    Jobs,
    RunningBackend,
    notebook_task,
    start_backend,
    task_of,
    write_wheel,
)


@pytest.fixture
def wheel_task(local_backend: RunningBackend) -> Callable[..., dict[str, Any]]:
    wheel = local_backend.config.dbfs_root / "wheels" / "local_greeter-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    write_wheel(wheel)  # its entry point prints "argv [...]"

    def make(key: str, **fields: object) -> dict[str, Any]:
        body = {"package_name": "local-greeter", "entry_point": "greet", **fields}
        library = [{"whl": "dbfs:/wheels/local_greeter-1.0-py3-none-any.whl"}]
        return {"task_key": key, "python_wheel_task": body, "libraries": library}

    return make


def test_python_named_params_replace_a_wheels_named_parameters(
    jobs: Jobs, wheel_task: Callable[..., dict[str, Any]]
) -> None:
    job_id = jobs.create(
        wheel_task("named", named_parameters={"day": "mon", "mode": "task"}),
        wheel_task("positional", parameters=["one"]),
    )
    named = {"mode": "run-now", "run": "{{job.run_id}}"}
    run = jobs.wait(jobs.run_now(job_id, python_named_params=named))
    assert run["overriding_parameters"] == {"python_named_params": named}
    logs = jobs.output(task_of(run, "named")["run_id"])["logs"]
    assert f"argv ['--mode=run-now', '--run={run['run_id']}']" in logs
    # The local choice where the docs say nothing: a run's named parameters replace a
    # positional wheel's argv too.
    logs = jobs.output(task_of(run, "positional")["run_id"])["logs"]
    assert f"argv ['--mode=run-now', '--run={run['run_id']}']" in logs

    plain = jobs.wait(jobs.run_now(job_id))
    assert "overriding_parameters" not in plain
    logs = jobs.output(task_of(plain, "named")["run_id"])["logs"]
    assert "argv ['--day=mon', '--mode=task']" in logs


def test_sql_params_go_over_the_tasks_parameters(jobs: Jobs) -> None:
    job_id = jobs.create(
        {
            "task_key": "q",
            "sql_task": {
                "warehouse_id": "local",
                "query": {"query_text": "SELECT :region AS region, :kept AS kept"},
                "parameters": {"region": "task", "kept": "from-task"},
            },
        }
    )
    run = jobs.wait(jobs.run_now(job_id, sql_params={"region": "run-now"}))
    assert run["overriding_parameters"] == {"sql_params": {"region": "run-now"}}
    result = jobs.output(task_of(run, "q")["run_id"])["sql_output"]["query_output"]["result"]
    assert result["rows"] == [["run-now", "from-task"]]


def test_jar_and_spark_submit_params_are_echoed(jobs: Jobs, notebook: Callable[..., str]) -> None:
    jar = {"task_key": "jar", "spark_jar_task": {"main_class_name": "NoSuchClass"}}
    job_id = jobs.create(jar, notebook_task("nb", notebook("ok", "print('ok')")))
    run = jobs.wait(jobs.run_now(job_id, jar_params=["a", "b"], spark_submit_params=["--x"]))
    assert run["overriding_parameters"] == {
        "jar_params": ["a", "b"],
        "spark_submit_params": ["--x"],
    }


def test_dbt_commands_and_pipeline_params_reach_the_configured_commands(tmp_path: Path) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text("import sys\nprint('stand-in', sys.argv[1:])\n")
    command = f"{sys.executable} {script}"
    with (
        start_backend(tmp_path, pipeline_command=command, dbt_command=command) as backend,
        httpx.Client(
            base_url=backend.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client,
    ):
        jobs = Jobs(client)
        job_id = jobs.create(
            {"task_key": "p", "pipeline_task": {"pipeline_id": "sales", "full_refresh": True}},
            {"task_key": "d", "dbt_task": {"commands": ["dbt run"]}},
        )
        run = jobs.wait(
            jobs.run_now(
                job_id,
                pipeline_params={"full_refresh": False},
                dbt_commands=["dbt deps", "dbt build --select x"],
            )
        )
        assert run["state"]["result_state"] == "SUCCESS"
        assert run["overriding_parameters"] == {
            "dbt_commands": ["dbt deps", "dbt build --select x"],
            "pipeline_params": {"full_refresh": False},
        }
        pipeline_logs = jobs.output(task_of(run, "p")["run_id"])["logs"]
        assert "stand-in ['sales']" in pipeline_logs  # full_refresh turned off for this run
        dbt_logs = jobs.output(task_of(run, "d")["run_id"])["logs"]
        assert "stand-in ['deps']" in dbt_logs
        assert "stand-in ['build', '--select', 'x']" in dbt_logs
        assert "stand-in ['run']" not in dbt_logs


@pytest.mark.parametrize(
    ("fields", "message_part"),
    [
        ({"jar_params": ["a"], "notebook_params": {"b": "c"}}, "in conjunction with"),
        ({"python_params": ["x" * 10_000]}, "python_params: its JSON representation"),
        ({"sql_params": {"k": "v" * 10_000}}, "sql_params: its JSON representation"),
        ({"python_params": ["naïve"]}, "python_params[0]: these parameters accept only ASCII"),
        ({"python_named_params": {"n": 1}}, "python_named_params.n must be a string"),
        ({"pipeline_params": {"full_refresh": "yes"}}, "pipeline_params.full_refresh"),
        ({"dbt_commands": "dbt run"}, "dbt_commands must be a JSON array"),
        ({"queue": {"enabled": "yes"}}, "queue.enabled"),
    ],
)
def test_bad_legacy_params_are_refused(
    api: httpx.Client, jobs: Jobs, fields: dict[str, Any], message_part: str
) -> None:
    job_id = jobs.create(
        {"task_key": "t", "disabled": True, "notebook_task": {"notebook_path": "/x"}}
    )
    response = api.post("/api/2.2/jobs/run-now", json={"job_id": job_id, **fields})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message_part in response.json()["message"]
    listed = jobs.call("GET", "runs/list", params={"job_id": job_id})
    assert "runs" not in listed  # refused before any run was made


def test_a_repair_brings_its_own_legacy_params(jobs: Jobs, notebook: Callable[..., str]) -> None:
    path = notebook(
        "picky",
        "assert dbutils.widgets.get('q') == 'kept'\n"
        "assert dbutils.widgets.get('p') == 'fixed', dbutils.widgets.get('p')",
    )
    job_id = jobs.create(notebook_task("t", path))
    run_id = jobs.run_now(job_id, notebook_params={"p": "broken", "q": "kept"})
    assert jobs.wait(run_id)["state"]["result_state"] == "FAILED"

    jobs.call(
        "POST",
        "runs/repair",
        json={"run_id": run_id, "rerun_tasks": ["t"], "notebook_params": {"p": "fixed"}},
    )
    run = jobs.wait(run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    # Maps given with a repair go over the run's: q stays.
    assert run["overriding_parameters"] == {"notebook_params": {"p": "fixed", "q": "kept"}}
    history = jobs.call("GET", "runs/get", params={"run_id": run_id, "include_history": True})
    refused = jobs.client.post(
        "/api/2.2/jobs/runs/repair",
        json={
            "run_id": run_id,
            "rerun_tasks": ["t"],
            "latest_repair_id": history["repair_history"][-1]["id"],
            "jar_params": ["a"],
            "notebook_params": {"p": "x"},
        },
    )
    assert refused.status_code == 400
    assert "in conjunction with" in refused.json()["message"]
    assert jobs.get(run_id)["state"]["result_state"] == "SUCCESS"  # nothing was rerun
