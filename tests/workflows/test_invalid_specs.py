"""Invalid documents: each problem is reported at its JSON path with a usable sentence."""

from __future__ import annotations

from typing import Any

import pytest

from service.workflows import SpecIssue, WorkflowInvalid, parse_workflow
from tests.workflows.conftest import Document, notebook, workflow


def _errors(document: Any) -> list[SpecIssue]:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(document)
    return caught.value.errors


def _cluster(key: str, **overrides: Any) -> dict[str, Any]:
    return {"cluster_key": key, **overrides}


def _without(document: Document, key: str) -> Document:
    return {name: value for name, value in document.items() if name != key}


INVALID: list[Any] = [
    # name
    pytest.param(_without(workflow(), "name"), "$.name", "`name` is required", id="no-name"),
    pytest.param(workflow(name=""), "$.name", "must not be empty", id="empty-name"),
    pytest.param(workflow(name="orders daily"), "$.name", "may only use letters", id="name-space"),
    pytest.param(workflow(name="a/b"), "$.name", "appears in URLs", id="name-slash"),
    pytest.param(workflow(name=".."), "$.name", "may only use letters", id="name-dots"),
    pytest.param(workflow(name="x" * 101), "$.name", "at most 100 characters", id="name-long"),
    pytest.param(workflow(name=7), "$.name", "must be text, not a number", id="name-type"),
    # tasks
    pytest.param(_without(workflow(), "tasks"), "$.tasks", "has no tasks", id="no-tasks-key"),
    pytest.param(workflow(tasks=[]), "$.tasks", "has no tasks", id="empty-tasks"),
    pytest.param(workflow(tasks={"a": {}}), "$.tasks", "must be a list", id="tasks-mapping"),
    pytest.param(workflow(tasks=["extract"]), "$.tasks[0]", "must be a mapping", id="task-text"),
    pytest.param(
        workflow({"type": "notebook", "notebook_path": "/x"}),
        "$.tasks[0].task_key",
        "`task_key` is required",
        id="no-task-key",
    ),
    pytest.param(
        workflow(notebook("load data")),
        "$.tasks[0].task_key",
        "may only use letters, digits, - and _",
        id="task-key-space",
    ),
    pytest.param(
        workflow(notebook("a"), notebook("a")),
        "$.tasks[1].task_key",
        "duplicate task_key 'a': tasks[0] already uses it",
        id="duplicate-task-key",
    ),
    pytest.param(
        workflow({"task_key": "a", "notebook_path": "/x"}),
        "$.tasks[0].type",
        "`type` is required: one of notebook, python",
        id="no-type",
    ),
    pytest.param(
        workflow(notebook("a", type="spark")),
        "$.tasks[0].type",
        "unknown task type 'spark'",
        id="unknown-type",
    ),
    pytest.param(
        workflow({"task_key": "a", "type": "notebook"}),
        "$.tasks[0].notebook_path",
        "`notebook_path` is required",
        id="no-notebook-path",
    ),
    pytest.param(
        workflow(notebook("a", notebook_path="ETL/run")),
        "$.tasks[0].notebook_path",
        "absolute workspace path",
        id="relative-notebook-path",
    ),
    pytest.param(
        workflow({"task_key": "a", "type": "python"}),
        "$.tasks[0].python_file",
        "needs `python_file`",
        id="python-nothing-to-run",
    ),
    pytest.param(
        workflow({"task_key": "a", "type": "python", "package_name": "etl"}),
        "$.tasks[0].entry_point",
        "`entry_point` is required",
        id="wheel-no-entry-point",
    ),
    pytest.param(
        workflow({"task_key": "a", "type": "python", "entry_point": "main"}),
        "$.tasks[0].package_name",
        "`package_name` is required",
        id="wheel-no-package",
    ),
    pytest.param(
        workflow(
            {"task_key": "a", "type": "python", "python_file": "x.py", "parameters": {"a": 1}}
        ),
        "$.tasks[0].parameters",
        "takes a list of command-line arguments",
        id="script-parameters-mapping",
    ),
    pytest.param(
        workflow(notebook("a", parameters=["--x"])),
        "$.tasks[0].parameters",
        "must be a mapping of names to values, not a list",
        id="notebook-parameters-list",
    ),
    pytest.param(
        workflow(notebook("a", parameters={"cfg": {"depth": 2}})),
        "$.tasks[0].parameters.cfg",
        "must be text, a number or true/false, not a mapping",
        id="parameter-nested",
    ),
    pytest.param(
        workflow(notebook("a", parameters={"run-date": None})),
        "$.tasks[0].parameters['run-date']",
        "not null",
        id="parameter-null",
    ),
    # depends_on
    pytest.param(
        workflow(notebook("a"), notebook("b", depends_on=["nope"])),
        "$.tasks[1].depends_on[0]",
        "names task 'nope', which is not in this workflow",
        id="unknown-dependency",
    ),
    pytest.param(
        workflow(notebook("load"), notebook("b", depends_on=["laod"])),
        "$.tasks[1].depends_on[0]",
        "did you mean 'load'?",
        id="dependency-typo",
    ),
    pytest.param(
        workflow(notebook("a", depends_on=["a"])),
        "$.tasks[0].depends_on[0]",
        "cannot depend on itself",
        id="self-dependency",
    ),
    pytest.param(
        workflow(notebook("a", depends_on="b"), notebook("b")),
        "$.tasks[0].depends_on",
        "must be a list, not text",
        id="depends-on-text",
    ),
    pytest.param(
        workflow(notebook("a", depends_on=["b"]), notebook("b", depends_on=["a"])),
        "$.tasks[0].depends_on[0]",
        "cycle: a -> b -> a",
        id="two-task-cycle",
    ),
    pytest.param(
        workflow(
            notebook("start"),
            notebook("a", depends_on=["start", "c"]),
            notebook("b", depends_on=["a"]),
            notebook("c", depends_on=["b"]),
        ),
        "$.tasks[1].depends_on[1]",
        "cycle: a -> c -> b -> a",
        id="three-task-cycle",
    ),
    # compute
    pytest.param(
        workflow(notebook("a", job_cluster_key="big")),
        "$.tasks[0].job_cluster_key",
        "names job cluster 'big', which is not defined under job_clusters",
        id="unknown-job-cluster",
    ),
    pytest.param(
        workflow(job_clusters=[_cluster("c"), _cluster("c")]),
        "$.job_clusters[1].cluster_key",
        "duplicate job cluster key 'c'",
        id="duplicate-cluster-key",
    ),
    pytest.param(
        workflow(job_clusters=[{"node_type": "Standard_DS3_v2"}]),
        "$.job_clusters[0].cluster_key",
        "`cluster_key` is required",
        id="no-cluster-key",
    ),
    pytest.param(
        workflow(job_clusters=[_cluster("c", min_workers=6, max_workers=2)]),
        "$.job_clusters[0].max_workers",
        "at least min_workers (6)",
        id="autoscale-bounds",
    ),
    pytest.param(
        workflow(job_clusters=[_cluster("c", availability="CHEAP")]),
        "$.job_clusters[0].availability",
        "must be one of 'ON_DEMAND_AZURE'",
        id="availability",
    ),
    # numbers
    pytest.param(workflow(timeout_seconds=-1), "$.timeout_seconds", "at least 0", id="job-timeout"),
    pytest.param(
        workflow(max_concurrent_runs=1001),
        "$.max_concurrent_runs",
        "at most 1000",
        id="max-concurrent-runs",
    ),
    pytest.param(
        workflow(notebook("a", timeout_seconds=-30)),
        "$.tasks[0].timeout_seconds",
        "must be at least 0, not -30",
        id="task-timeout",
    ),
    pytest.param(
        workflow(notebook("a", timeout_seconds="1h")),
        "$.tasks[0].timeout_seconds",
        "must be a whole number, not text",
        id="task-timeout-text",
    ),
    pytest.param(
        workflow(notebook("a", max_retries=-2)),
        "$.tasks[0].max_retries",
        "must be -1 (retry forever), 0 (never retry)",
        id="max-retries",
    ),
    pytest.param(
        workflow(notebook("a", max_retries=True)),
        "$.tasks[0].max_retries",
        "must be a whole number, not true/false",
        id="max-retries-bool",
    ),
    pytest.param(
        workflow(notebook("a", min_retry_interval_millis=-1)),
        "$.tasks[0].min_retry_interval_millis",
        "at least 0",
        id="retry-interval",
    ),
    # schedule
    pytest.param(
        workflow(schedule={"cron": "0 25 * * *"}),
        "$.schedule.cron",
        "the hour field `25`",
        id="cron-hour",
    ),
    pytest.param(
        workflow(schedule={"cron": "0 2 * *"}),
        "$.schedule.cron",
        "has 4 fields",
        id="cron-field-count",
    ),
    pytest.param(
        workflow(schedule={"cron": "0 0 2 * * *"}),
        "$.schedule.cron",
        "`?` in exactly one of day-of-month",
        id="quartz-no-question-mark",
    ),
    pytest.param(
        workflow(schedule={"cron": "0 2 1 * MON"}),
        "$.schedule.cron",
        "sets both day-of-month and day-of-week",
        id="cron-both-days",
    ),
    pytest.param(
        workflow(schedule={"cron": "0 0 2 ? * 9"}),
        "$.schedule.cron",
        "the day-of-week field `9`",
        id="quartz-day-of-week",
    ),
    pytest.param(
        workflow(schedule={"timezone": "UTC"}),
        "$.schedule.cron",
        "`cron` is required",
        id="no-cron",
    ),
    pytest.param(
        workflow(schedule={"cron": "0 2 * * *", "timezone": "Europe/Atlantis"}),
        "$.schedule.timezone",
        "not a time zone id",
        id="time-zone",
    ),
    # notifications
    pytest.param(
        workflow(notifications={"on_failure": ["ops@example.com", "ops at example.com"]}),
        "$.notifications.on_failure[1]",
        "'ops at example.com' is not an email address",
        id="email",
    ),
    pytest.param(
        workflow(notifications={"on_failure": "ops@example.com"}),
        "$.notifications.on_failure",
        "must be a list, not text",
        id="email-not-list",
    ),
    pytest.param(
        workflow(webhooks={"on_success": ["ftp://example.com/hook"]}),
        "$.webhooks.on_success[0]",
        "is not an http(s) URL",
        id="webhook-scheme",
    ),
    pytest.param(
        workflow(notebook("a", email_notifications={"on_start": ["nobody"]})),
        "$.tasks[0].email_notifications.on_start[0]",
        "not an email address",
        id="task-email",
    ),
    # tags and job parameters
    pytest.param(
        workflow(tags={f"tag{i}": "x" for i in range(25)}),
        "$.tags",
        "has 25 tags",
        id="too-many-tags",
    ),
    pytest.param(
        workflow(tags={"lockgate_workflow": "other"}),
        "$.tags.lockgate_workflow",
        "is set by Lockgate",
        id="reserved-tag",
    ),
    pytest.param(
        workflow(tags={"cost-center": ["a"]}),
        "$.tags['cost-center']",
        "not a list",
        id="tag-value",
    ),
    pytest.param(
        workflow(parameters=[{"name": "run_date"}]),
        "$.parameters[0].default",
        "`default` is required",
        id="job-parameter-default",
    ),
    pytest.param(
        workflow(parameters=[{"name": "d", "default": ""}, {"name": "d", "default": "x"}]),
        "$.parameters[1].name",
        "duplicate job parameter name 'd'",
        id="job-parameter-duplicate",
    ),
    pytest.param(
        workflow(parameters=[{"name": "run date", "default": ""}]),
        "$.parameters[0].name",
        "may only use letters",
        id="job-parameter-name",
    ),
]


@pytest.mark.parametrize(("document", "path", "fragment"), INVALID)
def test_invalid_spec_is_reported_at_its_path(document: Document, path: str, fragment: str) -> None:
    errors = _errors(document)

    at_path = [error.message for error in errors if error.path == path]
    assert at_path, f"no error at {path}; got {errors}"
    assert any(fragment in message for message in at_path), at_path


def test_every_problem_is_reported_at_once() -> None:
    document = workflow(
        notebook("a", timeout_seconds=-1, job_cluster_key="missing"),
        notebook("b", depends_on=["ghost"]),
        {"task_key": "c", "type": "notebook"},
        name="bad name",
        schedule={"cron": "61 * * * *"},
        notifications={"on_failure": ["not-an-address"]},
    )

    paths = [error.path for error in _errors(document)]

    assert paths == [
        "$.name",
        "$.notifications.on_failure[0]",
        "$.schedule.cron",
        "$.tasks[0].job_cluster_key",
        "$.tasks[0].timeout_seconds",
        "$.tasks[1].depends_on[0]",
        "$.tasks[2].notebook_path",
    ]


def test_errors_sort_list_indices_as_numbers() -> None:
    tasks = [notebook(f"t{i}") for i in range(12)]
    tasks[2]["timeout_seconds"] = -1
    tasks[10]["timeout_seconds"] = -1

    paths = [error.path for error in _errors(workflow(*tasks))]

    assert paths == ["$.tasks[2].timeout_seconds", "$.tasks[10].timeout_seconds"]


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    errors = _errors([notebook("a")])

    assert errors == [SpecIssue(path="$", message="a workflow must be a mapping of keys to values")]


def test_the_exception_text_lists_each_problem() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(workflow(name="", tasks=[]))

    assert "$.name: must not be empty" in str(caught.value)
    assert "$.tasks: the workflow has no tasks" in str(caught.value)
