"""for_each_task iterations, run_job_task child runs and condition outcomes, in detail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.databricks.local.conftest import Jobs, notebook_task, task_of


def test_for_each_inputs_from_a_task_value_run_with_their_concurrency(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    producer = notebook(
        "produce", "dbutils.jobs.taskValues.set('files', ['a.csv', 'b.csv', 'c.csv'])"
    )
    worker = notebook(
        "work",
        "import os, time\n"
        "name = dbutils.widgets.get('file')\n"
        "out = dbutils.widgets.get('out')\n"
        "open(os.path.join(out, name + '.start'), 'w').write(str(time.time()))\n"
        "time.sleep(0.3)\n"
        "open(os.path.join(out, name + '.end'), 'w').write(str(time.time()))\n"
        "dbutils.notebook.exit(name.upper())",
    )
    job_id = jobs.create(
        notebook_task("produce", producer),
        {
            "task_key": "each",
            "depends_on": [{"task_key": "produce"}],
            "for_each_task": {
                "inputs": "{{tasks.produce.values.files}}",
                "concurrency": 2,
                "task": notebook_task(
                    "each_file", worker, params={"file": "{{input}}", "out": str(tmp_path)}
                ),
            },
        },
    )
    run = jobs.wait(jobs.run_now(job_id))
    assert run["state"]["result_state"] == "SUCCESS", run
    each = task_of(run, "each")
    stats = each["for_each_task"]["stats"]["task_run_stats"]
    assert stats == {
        "total_iterations": 3,
        "scheduled_iterations": 3,
        "active_iterations": 0,
        "completed_iterations": 3,
        "succeeded_iterations": 3,
        "failed_iterations": 0,
    }
    detail = jobs.get(each["run_id"])  # runs/get on the for-each task run lists iterations
    iterations = detail["iterations"]
    assert [it["task_key"] for it in iterations] == ["each_file"] * 3
    assert len({it["run_id"] for it in iterations}) == 3
    outputs = [jobs.output(it["run_id"])["notebook_output"]["result"] for it in iterations]
    assert outputs == ["A.CSV", "B.CSV", "C.CSV"]
    # concurrency 2: the third iteration started only after one of the first two ended
    times = {
        name: (
            float((tmp_path / f"{name}.start").read_text()),
            float((tmp_path / f"{name}.end").read_text()),
        )
        for name in ("a.csv", "b.csv", "c.csv")
    }
    assert times["c.csv"][0] >= min(times["a.csv"][1], times["b.csv"][1])


def test_for_each_inputs_that_resolve_to_no_json_array_fail_the_task(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    # Literal inputs are checked at jobs/create; a reference is only known at run time.
    job_id = jobs.create(
        {
            "task_key": "each",
            "for_each_task": {
                "inputs": "{{job.parameters.items}}",
                "task": notebook_task("x", notebook("ok", "pass")),
            },
        },
        parameters=[{"name": "items", "default": "not json"}],
    )
    run = jobs.wait(jobs.run_now(job_id))
    each = task_of(run, "each")
    assert each["state"]["result_state"] == "FAILED"
    assert "inputs is not a JSON array" in each["state"]["state_message"]


def test_run_job_task_starts_the_other_job_and_takes_its_result(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    child_nb = notebook("child", "dbutils.notebook.exit(dbutils.widgets.get('region'))")
    child_job = jobs.create(
        notebook_task("child", child_nb),
        name="child-job",
        parameters=[{"name": "region", "default": "north"}],
    )
    parent_job = jobs.create(
        {
            "task_key": "call",
            "run_job_task": {"job_id": child_job, "job_parameters": {"region": "{{job.name}}"}},
        },
        name="parent-job",
    )
    run = jobs.wait(jobs.run_now(parent_job))
    assert run["state"]["result_state"] == "SUCCESS", run
    call = task_of(run, "call")
    output = jobs.output(call["run_id"])
    child_run_id = output["run_job_output"]["run_id"]
    child = jobs.get(child_run_id)
    assert child["trigger"] == "RUN_JOB_TASK"
    assert child["job_id"] == child_job
    assert [(p["name"], p["value"]) for p in child["job_parameters"]] == [("region", "parent-job")]
    child_task = task_of(child, "child")
    assert jobs.output(child_task["run_id"])["notebook_output"]["result"] == "parent-job"

    missing = jobs.create({"task_key": "call", "run_job_task": {"job_id": 1}})
    failed = jobs.wait(jobs.run_now(missing))
    assert task_of(failed, "call")["status"]["termination_details"]["code"] == "RESOURCE_NOT_FOUND"


def test_condition_task_reports_its_resolved_operands_and_outcome(jobs: Jobs) -> None:
    job_id = jobs.create(
        {"task_key": "c", "condition_task": {"op": "NOT_EQUAL", "left": "{{job.id}}", "right": "0"}}
    )
    run = jobs.wait(jobs.run_now(job_id))
    condition = task_of(run, "c")["condition_task"]
    assert condition == {"op": "NOT_EQUAL", "left": str(job_id), "right": "0", "outcome": "true"}


def test_bad_control_settings_are_refused(jobs: Jobs) -> None:
    def refused(tasks: list[dict[str, object]]) -> str:
        response = jobs.client.post("/api/2.2/jobs/create", json={"name": "x", "tasks": tasks})
        assert response.status_code == 400, response.text
        body: dict[str, str] = response.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        return body["message"]

    ok = {"notebook_task": {"notebook_path": "/x"}}
    assert "tasks[0].condition_task.op: " in refused(
        [{"task_key": "c", "condition_task": {"op": "LIKE", "left": "a", "right": "b"}}]
    )
    assert "tasks[1].depends_on[0].outcome: " in refused(
        [
            {"task_key": "a", **ok},
            {"task_key": "b", **ok, "depends_on": [{"task_key": "a", "outcome": "true"}]},
        ]
    )
    nested = {
        "task_key": "inner",
        "for_each_task": {"inputs": "[]", "task": {"task_key": "x", **ok}},
    }
    assert "tasks[0].for_each_task.task.for_each_task: " in refused(
        [{"task_key": "outer", "for_each_task": {"inputs": "[1]", "task": nested}}]
    )
    assert "cycle" in refused(
        [
            {"task_key": "a", **ok, "depends_on": [{"task_key": "b"}]},
            {"task_key": "b", **ok, "depends_on": [{"task_key": "a"}]},
        ]
    )


def test_run_now_only_runs_the_named_tasks(jobs: Jobs, notebook: Callable[..., str]) -> None:
    ok = notebook("ok", "print('ok')")
    job_id = jobs.create(
        notebook_task("a", ok),
        notebook_task("b", ok, depends_on=("a",)),
        notebook_task("c", ok, depends_on=("b",)),
    )
    run = jobs.wait(jobs.run_now(job_id, only=["b", "c"]))
    assert run["state"]["result_state"] == "SUCCESS"
    assert [task["task_key"] for task in run["tasks"]] == ["b", "c"]
    unknown = jobs.client.post("/api/2.2/jobs/run-now", json={"job_id": job_id, "only": ["z"]})
    assert unknown.status_code == 400 and "only: z" in unknown.json()["message"]
