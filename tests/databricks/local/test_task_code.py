"""What task code sees and leaves: widgets, notebook.exit, task values, argv, notebook formats."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.databricks.local.conftest import Jobs, RunningBackend, notebook_task, task_of


def test_widgets_and_notebook_exit(jobs: Jobs, notebook: Callable[..., str]) -> None:
    path = notebook(
        "widgets",
        "# MAGIC %md\n# MAGIC Reads its widgets and exits with them.",
        "dbutils.widgets.text('declared', 'its-default')\n"
        "values = {name: dbutils.widgets.get(name) for name in "
        "('base_only', 'overridden', 'env', 'declared')}\n"
        "values['missing'] = dbutils.widgets.getArgument('missing', 'fallback')\n"
        "values['all'] = sorted(dbutils.widgets.getAll())",
        "import json\ndbutils.notebook.exit(json.dumps(values))",
        "raise AssertionError('cells after notebook.exit must not run')",
    )
    job_id = jobs.create(
        notebook_task(
            "read",
            path,
            params={"base_only": "from-task", "overridden": "from-task", "env": "from-task"},
        ),
        parameters=[{"name": "env", "default": "dev"}],
    )
    run_id = jobs.run_now(
        job_id,
        notebook_params={"overridden": "from-run-now"},
        job_parameters={"env": "prod"},
    )
    run = jobs.wait(run_id)

    assert run["state"]["result_state"] == "SUCCESS"
    output = jobs.output(task_of(run, "read")["run_id"])
    values = json.loads(output["notebook_output"]["result"])
    assert values == {
        "base_only": "from-task",
        "overridden": "from-run-now",
        "env": "prod",  # job parameters win over task parameters
        "declared": "its-default",
        "missing": "fallback",
        "all": ["base_only", "declared", "env", "overridden"],
    }
    assert output["notebook_output"]["truncated"] is False
    assert run["job_parameters"] == [{"name": "env", "default": "dev", "value": "prod"}]
    assert run["overriding_parameters"] == {"notebook_params": {"overridden": "from-run-now"}}


def test_a_missing_widget_fails_with_its_name(jobs: Jobs, notebook: Callable[..., str]) -> None:
    path = notebook("missing", "dbutils.widgets.get('nope')")
    run = jobs.wait(jobs.run_now(jobs.create(notebook_task("t", path))))
    assert task_of(run, "t")["state"]["state_message"] == (
        "InputWidgetNotDefined: No input widget named nope is defined"
    )


def test_dynamic_references_and_task_values(jobs: Jobs, notebook: Callable[..., str]) -> None:
    producer = notebook("producer", "dbutils.jobs.taskValues.set('rows', 42)")
    consumer = notebook(
        "consumer",
        "import json\n"
        "dbutils.notebook.exit(json.dumps({\n"
        "    'rows': dbutils.jobs.taskValues.get('produce', 'rows'),\n"
        "    'default': dbutils.jobs.taskValues.get('produce', 'other', default=7),\n"
        "    'widgets': dbutils.widgets.getAll(),\n"
        "}))",
    )
    params = {
        "run": "{{job.run_id}}",
        "job": "{{job.id}}",
        "task": "{{task.name}}",
        "year": "{{job.start_time.year}}",
        "rows": "{{tasks.produce.values.rows}}",
        "start": "{{job.start_time}}",
        # no value in a run not started by a file: passed through as written
        "raw": "{{job.trigger.file_arrival.location}}",
    }
    job_id = jobs.create(
        notebook_task("produce", producer),
        notebook_task("consume", consumer, depends_on=("produce",), params=params),
    )
    run_id = jobs.run_now(job_id)
    run = jobs.wait(run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    result = json.loads(jobs.output(task_of(run, "consume")["run_id"])["notebook_output"]["result"])
    assert result["rows"] == 42
    assert result["default"] == 7
    widgets = result["widgets"]
    assert widgets["run"] == str(run_id)
    assert widgets["job"] == str(job_id)
    assert widgets["task"] == "consume"
    assert len(widgets["year"]) == 4 and widgets["year"].isdigit()
    assert widgets["rows"] == "42"
    assert widgets["start"].startswith(widgets["year"] + "-")
    assert widgets["raw"] == "{{job.trigger.file_arrival.location}}"


def test_spark_python_task_gets_argv_and_python_params_replace_them(
    jobs: Jobs, local_backend: RunningBackend
) -> None:
    script = local_backend.config.dbfs_root / "scripts" / "argv_test.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "import os, sys\n"
        "print('ARGS', sys.argv[1:])\n"
        "print('DBFS', os.environ['LOCKGATE_DBFS_ROOT'])\n"
        "if '--fail' in sys.argv:\n"
        "    sys.exit(3)\n"
    )
    task = {
        "task_key": "script",
        "spark_python_task": {
            "python_file": "dbfs:/scripts/argv_test.py",
            "parameters": ["a", "b"],
        },
    }
    job_id = jobs.create(task)

    run = jobs.wait(jobs.run_now(job_id))
    output = jobs.output(task_of(run, "script")["run_id"])
    assert run["state"]["result_state"] == "SUCCESS"
    assert "ARGS ['a', 'b']" in output["logs"]
    assert f"DBFS {local_backend.config.dbfs_root.resolve()}" in output["logs"]
    assert "notebook_output" not in output

    run = jobs.wait(jobs.run_now(job_id, python_params=["--fail"]))
    assert run["state"]["result_state"] == "FAILED"
    assert task_of(run, "script")["state"]["state_message"] == "SystemExit: 3"
    assert run["overriding_parameters"] == {"python_params": ["--fail"]}


def test_ipynb_notebooks_and_percent_run(
    jobs: Jobs, notebook: Callable[..., str], local_backend: RunningBackend
) -> None:
    helper = notebook("helper", "GREETING = 'hello from helper'")
    ipynb_path = "/Tests/ipynb_run/main"
    document: dict[str, Any] = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Title"]},
            {"cell_type": "code", "source": [f"%run {helper}\n"]},
            {"cell_type": "code", "source": ["%md\n", "not code"]},
            {"cell_type": "code", "source": ["dbutils.notebook.exit(GREETING)\n"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    file = local_backend.config.workspace_dir / "Tests" / "ipynb_run" / "main.ipynb"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(document))

    run = jobs.wait(jobs.run_now(jobs.create(notebook_task("nb", ipynb_path))))
    output = jobs.output(task_of(run, "nb")["run_id"])
    assert run["state"]["result_state"] == "SUCCESS", output
    assert output["notebook_output"]["result"] == "hello from helper"


def test_what_cannot_run_locally_fails_the_task_with_a_clear_message(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    sql_cell = notebook("sql_cell", "# MAGIC %sql\n# MAGIC SELECT 1")
    pipeline = {
        "task_key": "pipeline",
        "pipeline_task": {"pipeline_id": "p-1"},
        "max_retries": 2,
    }
    job_id = jobs.create(
        pipeline,
        notebook_task("sql", sql_cell),
        notebook_task("missing", "/Tests/does/not/exist"),
    )
    run = jobs.wait(jobs.run_now(job_id))

    assert run["state"]["result_state"] == "FAILED"
    pipeline_run = task_of(run, "pipeline")
    assert pipeline_run["state"]["result_state"] == "FAILED"
    assert (
        "pipeline_task is not available in the local backend"
        in (pipeline_run["state"]["state_message"])
    )
    assert pipeline_run["attempt_number"] == 0  # not retried: it can never run here
    assert "uses %sql" in task_of(run, "sql")["state"]["state_message"]
    missing = task_of(run, "missing")
    assert missing["state"]["state_message"].startswith("Notebook not found: /Tests/does/not/exist")
    assert missing["status"]["termination_details"]["code"] == "RESOURCE_NOT_FOUND"


def test_get_output_keeps_the_last_5_mb_of_logs_and_the_first_5_mb_of_the_result(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    mb5 = 5 * 1024 * 1024
    path = notebook(
        "loud",
        "import sys\n"
        "for index in range(6 * 1024):  # 6 MiB of 1 KiB lines\n"
        "    sys.stdout.write(f'{index:08d}' + 'x' * 1015 + '\\n')\n"
        "print('LAST LINE')",
        # 'é' is 2 bytes and straddles the 5 MiB cut: it must go whole, not half.
        f"dbutils.notebook.exit('r' * ({mb5} - 1) + 'é' + 'not kept')",
    )
    run = jobs.wait(jobs.run_now(jobs.create(notebook_task("loud", path))))
    assert run["state"]["result_state"] == "SUCCESS"
    output = jobs.output(task_of(run, "loud")["run_id"])

    assert output["logs_truncated"] is True
    logs = output["logs"]
    assert len(logs.encode()) == mb5  # ASCII: exactly the last 5 MiB
    assert logs.endswith("LAST LINE\n")
    assert "00000000xxx" not in logs  # the first lines were cut
    result = output["notebook_output"]
    assert result["truncated"] is True
    assert result["result"] == "r" * (mb5 - 1)
