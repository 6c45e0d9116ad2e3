"""Databricks Jobs JSON in: every task type accepted unchanged, every rule reported at its
JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service.workflows import (
    SpecIssue,
    WorkflowInvalid,
    check_run_request,
    export_warnings,
    parse_job_settings,
    parse_workflow,
)

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2"}


def job(*tasks: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "name": "orders",
        "job_clusters": [{"job_cluster_key": "c", "new_cluster": {**CLUSTER, "num_workers": 1}}],
        "tasks": list(tasks) or [nb("a")],
        **overrides,
    }


def nb(key: str, **overrides: Any) -> dict[str, Any]:
    return {
        "task_key": key,
        "notebook_task": {"notebook_path": f"/Shared/{key}"},
        "job_cluster_key": "c",
        **overrides,
    }


def cond(key: str, **overrides: Any) -> dict[str, Any]:
    return {
        "task_key": key,
        "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "1"},
        **overrides,
    }


EVERY_TASK_TYPE = job(
    nb("nb", libraries=[{"pypi": {"package": "x"}}, {"maven": {"coordinates": "a:b:1"}}]),
    {"task_key": "py", "spark_python_task": {"python_file": "/f.py"}, "environment_key": "e"},
    {
        "task_key": "whl",
        "python_wheel_task": {"package_name": "p", "entry_point": "m"},
        "existing_cluster_id": "0101-abc",
        "libraries": [{"whl": "dbfs:/p.whl"}, {"egg": "dbfs:/p.egg"}, {"jar": "dbfs:/j.jar"}],
    },
    {"task_key": "jar", "spark_jar_task": {"main_class_name": "M"}, "job_cluster_key": "c"},
    {
        "task_key": "submit",
        "spark_submit_task": {"parameters": ["--class", "M", "dbfs:/j.jar"]},
        "new_cluster": {
            **CLUSTER,
            "autoscale": {"min_workers": 1, "max_workers": 3},
            "spark_conf": {"spark.sql.shuffle.partitions": "8"},
            "spark_env_vars": {"PYSPARK_PYTHON": "/databricks/python3/bin/python3"},
            "init_scripts": [
                {"workspace": {"destination": "/Shared/init.sh"}},
                {"volumes": {"destination": "/Volumes/main/default/init/setup.sh"}},
            ],
            "azure_attributes": {
                "availability": "SPOT_WITH_FALLBACK_AZURE",
                "first_on_demand": 1,
                "spot_bid_max_price": -1,
            },
            "custom_tags": {"cost-center": "42"},
            "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs/submit"}},
        },
    },
    {"task_key": "sq", "sql_task": {"warehouse_id": "w", "query": {"query_id": "q"}}},
    {"task_key": "sf", "sql_task": {"warehouse_id": "w", "file": {"path": "/q.sql"}}},
    {"task_key": "sa", "sql_task": {"warehouse_id": "w", "alert": {"alert_id": "a"}}},
    {"task_key": "sd", "sql_task": {"warehouse_id": "w", "dashboard": {"dashboard_id": "d"}}},
    {"task_key": "dlt", "pipeline_task": {"pipeline_id": "p", "full_refresh": True}},
    {
        "task_key": "dbt",
        "dbt_task": {"commands": ["dbt deps", "dbt run"], "schema": "s"},
        "job_cluster_key": "c",
        "libraries": [{"requirements": "/r.txt"}],
    },
    {"task_key": "rj", "run_job_task": {"job_id": 7, "job_parameters": {"d": "{{job.id}}"}}},
    cond("ok", depends_on=[{"task_key": "nb"}]),
    {
        "task_key": "each",
        "depends_on": [{"task_key": "ok", "outcome": "true"}],
        "run_if": "AT_LEAST_ONE_SUCCESS",
        "for_each_task": {
            "inputs": '["a", "b"]',
            "concurrency": 2,
            "task": nb(
                "each_one",
                notebook_task={"notebook_path": "/x", "base_parameters": {"i": "{{input}}"}},
            ),
        },
    },
    environments=[{"environment_key": "e", "spec": {"client": "1", "dependencies": ["x"]}}],
    schedule={"quartz_cron_expression": "0 0 2 ? * MON-FRI", "timezone_id": "Europe/Oslo"},
    trigger={"pause_status": "UNPAUSED", "periodic": {"interval": 4, "unit": "HOURS"}},
    health={"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 60}]},
    email_notifications={"on_failure": ["ops@example.com"], "no_alert_for_skipped_runs": True},
    webhook_notifications={"on_failure": [{"id": "dest-1"}]},
    notification_settings={"no_alert_for_canceled_runs": True},
    parameters=[{"name": "day", "default": ""}],
    tags={"team": "data"},
    queue={"enabled": True},
    run_as={"service_principal_name": "sp-1"},
    git_source={
        "git_url": "https://github.com/o/r",
        "git_provider": "gitHub",
        "git_branch": "main",
    },
    timeout_seconds=3600,
    max_concurrent_runs=2,
    format="MULTI_TASK",
)


def test_every_task_type_and_setting_is_accepted_unchanged() -> None:
    definition = parse_job_settings(EVERY_TASK_TYPE)
    settings = definition.to_job_settings()
    expected = copy.deepcopy(EVERY_TASK_TYPE)
    # Lockgate sends the failure email itself; it tags the job with the workflow name.
    expected["email_notifications"] = {"no_alert_for_skipped_runs": True}
    expected["tags"]["lockgate_workflow"] = "orders"
    assert settings == expected
    assert definition.format == "jobs"
    assert definition.alert_routes()[0]["on_failure"] == ("ops@example.com",)
    assert definition.task_keys[0] == "nb" and definition.job_parameter_names == ("day",)
    assert parse_workflow(EVERY_TASK_TYPE).to_job_settings() == settings  # detected


def test_a_file_arrival_trigger_is_accepted_unchanged() -> None:
    trigger = {
        "pause_status": "UNPAUSED",
        "file_arrival": {
            "url": "abfss://landing@acct.dfs.core.windows.net/orders/",
            "min_time_between_triggers_seconds": 60,
            "wait_after_last_change_seconds": 120,
        },
    }
    definition = parse_job_settings(job(trigger=trigger))
    assert definition.to_job_settings()["trigger"] == trigger
    assert not definition.warnings


def test_jobs_get_response_is_read_from_settings() -> None:
    response = {"job_id": 5, "created_time": 1, "creator_user_name": "me", "settings": job()}
    definition = parse_workflow(response)
    assert definition.format == "jobs" and definition.name == "orders"
    assert "job_id" not in definition.to_job_settings()
    bad = {"job_id": 5, "settings": job(nb("a", job_cluster_key="nope"))}
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(bad)
    assert caught.value.errors[0].path == "$.settings.tasks[0].job_cluster_key"


@pytest.mark.parametrize(
    ("paging", "path"),
    [
        ({"has_more": True, "next_page_token": "page-2"}, "$.has_more"),
        ({"next_page_token": "page-2"}, "$.next_page_token"),
    ],
)
def test_a_paged_jobs_get_response_is_refused(paging: dict[str, Any], path: str) -> None:
    # API 2.2 pages tasks at 100: the first page alone would import as a partial job.
    response = {"job_id": 5, "settings": job(nb("a"), nb("b", depends_on=[{"task_key": "a"}]))}
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow({**response, **paging})
    [error] = caught.value.errors
    assert error.path == path and "only the first page" in error.message
    assert parse_workflow({**response, "has_more": False}).task_keys == ("a", "b")


def test_task_email_routes_and_export_restores_them() -> None:
    document = job(nb("a", email_notifications={"on_start": ["x@example.com"]}))
    definition = parse_job_settings(document)
    assert "email_notifications" not in definition.to_job_settings()["tasks"][0]
    assert definition.task_alert_routes()["a"][0]["on_start"] == ("x@example.com",)
    exported = definition.export_job_settings()
    assert exported["tasks"][0]["email_notifications"] == {"on_start": ["x@example.com"]}


def test_job_name_with_spaces_becomes_a_slug_and_keeps_the_job_name() -> None:
    definition = parse_job_settings(job(name="Daily orders ETL"))
    assert definition.name == "Daily-orders-ETL"
    assert definition.to_job_settings()["name"] == "Daily orders ETL"
    assert any(w.path == "$.name" for w in definition.warnings)
    again = parse_job_settings(definition.export_job_settings())
    assert again.name == "Daily-orders-ETL" and not again.warnings


def _warnings(document: dict[str, Any]) -> list[SpecIssue]:
    return list(parse_job_settings(document).warnings)


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        (
            job(schedule={"quartz_cron_expression": "0 2 * * *", "timezone_id": "UTC"}),
            "$.schedule.quartz_cron_expression",
            "sent as `0 0 2 * * ?`",
        ),
        (
            job(
                nb(
                    "a",
                    notebook_task={
                        "notebook_path": "/x",
                        "base_parameters": {"d": "{{start_date}}"},
                    },
                )
            ),
            "$.tasks[0].notebook_task.base_parameters.d",
            "legacy reference",
        ),
        (job(nb("a", max_retries=-1)), "$.tasks[0].max_retries", "retried forever"),
        (job(nb("a", run_if="ALL_DONE")), "$.tasks[0].run_if", "without depends_on"),
        (job(max_concurrent_runs=0), "$.max_concurrent_runs", "skips every new run"),
        (job(nb("a", retry_on_timeout=True)), "$.tasks[0].retry_on_timeout", "no timeout_seconds"),
        (job(nb("a", colour="red")), "$.tasks[0].colour", "unknown key 'colour'"),
        (
            job(
                job_clusters=[
                    {"job_cluster_key": "c", "new_cluster": {**CLUSTER, "num_workers": 1}},
                    {"job_cluster_key": "d", "new_cluster": {**CLUSTER, "num_workers": 1}},
                ]
            ),
            "$.job_clusters[1].job_cluster_key",
            "not used by any task",
        ),
        (
            job(
                nb("a"),
                cond("c", depends_on=[{"task_key": "a"}]),
                nb("b", depends_on=[{"task_key": "c", "outcome": "true"}]),
                cond("d", condition_task={"op": "LESS_THAN", "left": "abc", "right": "3"}),
            ),
            "$.tasks[3].condition_task.left",
            "compares numbers",
        ),
        (
            job(
                {
                    "task_key": "a",
                    "notebook_task": {"notebook_path": "/x"},
                    "libraries": [{"pypi": {"package": "x"}}],
                }
            ),
            "$.tasks[0].libraries",
            "runs serverless",
        ),
        (
            job(
                schedule={
                    "quartz_cron_expression": "0 0 2 * * ?",
                    "timezone_id": "UTC",
                    "pause_status": "PAUSED",
                }
            ),
            "$.schedule.pause_status",
            "will not fire",
        ),
    ],
)
def test_warnings(document: dict[str, Any], path: str, fragment: str) -> None:
    warnings = _warnings(document)
    assert any(w.path == path and fragment in w.message for w in warnings), warnings


INVALID: list[Any] = [
    pytest.param(
        job(nb("a"), nb("a")), "$.tasks[1].task_key", "duplicate task_key 'a'", id="dup-key"
    ),
    pytest.param(
        job(nb("a", depends_on=[{"task_key": "a"}])),
        "$.tasks[0].depends_on[0].task_key",
        "cannot depend on itself",
        id="self-dep",
    ),
    pytest.param(
        job(nb("a", depends_on=[{"task_key": "bb"}]), nb("b")),
        "$.tasks[0].depends_on[0].task_key",
        "names task 'bb', which is not in this job (did you mean 'b'?)",
        id="dangling",
    ),
    pytest.param(
        job(nb("a", depends_on=[{"task_key": "b"}]), nb("b", depends_on=[{"task_key": "a"}])),
        "$.tasks[0].depends_on[0].task_key",
        "cycle: a -> b -> a",
        id="cycle",
    ),
    pytest.param(
        job(nb("a", job_cluster_key="cc")),
        "$.tasks[0].job_cluster_key",
        "names job cluster 'cc'",
        id="unknown-cluster",
    ),
    pytest.param(
        job({"task_key": "a", "job_cluster_key": "c"}),
        "$.tasks[0]",
        "has no task type",
        id="no-type",
    ),
    pytest.param(
        job(nb("a", spark_python_task={"python_file": "/f.py"})),
        "$.tasks[0].spark_python_task",
        "exactly one type",
        id="two-types",
    ),
    pytest.param(
        job(nb("a", existing_cluster_id="x")),
        "$.tasks[0].existing_cluster_id",
        "one compute",
        id="two-computes",
    ),
    pytest.param(
        job({"task_key": "a", "spark_jar_task": {"main_class_name": "M"}}),
        "$.tasks[0]",
        "needs a cluster",
        id="jar-no-cluster",
    ),
    pytest.param(
        job(cond("a", job_cluster_key="c")),
        "$.tasks[0].job_cluster_key",
        "runs without a cluster",
        id="condition-cluster",
    ),
    pytest.param(
        job({"task_key": "a", "spark_submit_task": {}, "job_cluster_key": "c"}),
        "$.tasks[0].job_cluster_key",
        "only on a new_cluster",
        id="submit-job-cluster",
    ),
    pytest.param(
        job(nb("a", environment_key="e", job_cluster_key=None)),
        "$.tasks[0].environment_key",
        "names environment 'e'",
        id="unknown-env",
    ),
    pytest.param(
        job(
            nb(
                "a",
                new_cluster={
                    **CLUSTER,
                    "num_workers": 2,
                    "autoscale": {"min_workers": 1, "max_workers": 2},
                },
                job_cluster_key=None,
            )
        ),
        "$.tasks[0].new_cluster.num_workers",
        "together with autoscale",
        id="autoscale-and-workers",
    ),
    pytest.param(
        job(
            job_clusters=[
                {
                    "job_cluster_key": "c",
                    "new_cluster": {
                        "spark_version": "x",
                        "node_type_id": "n",
                        "autoscale": {"min_workers": 5, "max_workers": 2},
                    },
                }
            ]
        ),
        "$.job_clusters[0].new_cluster.autoscale.max_workers",
        "at least min_workers",
        id="autoscale-range",
    ),
    pytest.param(
        job(job_clusters=[{"job_cluster_key": "c", "new_cluster": {"num_workers": 1}}]),
        "$.job_clusters[0].new_cluster.spark_version",
        "`spark_version` is required",
        id="no-spark-version",
    ),
    pytest.param(
        job(nb("a"), nb("b", depends_on=[{"task_key": "a", "outcome": "true"}])),
        "$.tasks[1].depends_on[0].outcome",
        "only to a dependency on a condition_task",
        id="outcome-non-condition",
    ),
    pytest.param(
        job(cond("a"), nb("b", depends_on=[{"task_key": "a"}])),
        "$.tasks[1].depends_on[0]",
        "needs `outcome`",
        id="condition-no-outcome",
    ),
    pytest.param(
        job(cond("a", depends_on=[]))
        | {"tasks": [cond("a"), nb("b", depends_on=[{"task_key": "a", "outcome": "yes"}])]},
        "$.tasks[1].depends_on[0].outcome",
        "must be one of",
        id="outcome-value",
    ),
    pytest.param(
        job(
            {
                "task_key": "f",
                "for_each_task": {
                    "inputs": "[1]",
                    "task": {"task_key": "g", "for_each_task": {"inputs": "[1]", "task": nb("h")}},
                },
            }
        ),
        "$.tasks[0].for_each_task.task.for_each_task",
        "cannot run another for_each_task",
        id="nested-for-each",
    ),
    pytest.param(
        job({"task_key": "f", "for_each_task": {"inputs": '{"a": 1}', "task": nb("g")}}),
        "$.tasks[0].for_each_task.inputs",
        "JSON array",
        id="for-each-inputs",
    ),
    pytest.param(
        job(nb("a", run_if="SOMETIMES")), "$.tasks[0].run_if", "must be one of", id="run-if"
    ),
    pytest.param(
        job(cond("a", condition_task={"op": "BIGGER", "left": "1", "right": "2"})),
        "$.tasks[0].condition_task.op",
        "must be one of",
        id="condition-op",
    ),
    pytest.param(
        job(schedule={"quartz_cron_expression": "0 0 25 * * ?", "timezone_id": "UTC"}),
        "$.schedule.quartz_cron_expression",
        "the hour field `25`",
        id="quartz-hour",
    ),
    pytest.param(
        job(schedule={"quartz_cron_expression": "0 0 2 * * *", "timezone_id": "UTC"}),
        "$.schedule.quartz_cron_expression",
        "`?` in exactly one",
        id="quartz-question",
    ),
    pytest.param(
        job(schedule={"quartz_cron_expression": "61 2 * * *", "timezone_id": "UTC"}),
        "$.schedule.quartz_cron_expression",
        "the minute field `61`",
        id="unix-minute",
    ),
    pytest.param(
        job(schedule={"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "Mars/Olympus"}),
        "$.schedule.timezone_id",
        "not a time zone id",
        id="time-zone",
    ),
    pytest.param(
        job(
            nb("a", notebook_task={"notebook_path": "/x", "base_parameters": {"p": "{{job.naem}}"}})
        ),
        "$.tasks[0].notebook_task.base_parameters.p",
        "did you mean `{{job.name}}`",
        id="reference",
    ),
    pytest.param(
        job(nb("a", notebook_task={"notebook_path": "/x", "base_parameters": {"p": "{{input}}"}})),
        "$.tasks[0].notebook_task.base_parameters.p",
        "only has a value inside",
        id="input-outside",
    ),
    pytest.param(
        job(*[nb(f"t{i}") for i in range(1001)]),
        "$.tasks",
        "Databricks allows 1000",
        id="too-many-tasks",
    ),
    pytest.param(
        job(tags={f"k{i}": "v" for i in range(25)}), "$.tags", "keep at most 24", id="too-many-tags"
    ),
    pytest.param(
        job(parameters=[{"name": "p", "default": "x" * 10_001}]),
        "$.parameters",
        "Databricks allows 10000",
        id="parameter-bytes",
    ),
    pytest.param(
        job(nb("a", notebook_task={"notebook_path": "/x", "base_parameters": {"p": "x" * 10_001}})),
        "$.tasks[0].notebook_task.base_parameters",
        "Databricks allows 10000",
        id="task-parameter-bytes",
    ),
    pytest.param(
        job(nb("a", notebook_task={"notebook_path": "rel/nb"})),
        "$.tasks[0].notebook_task.notebook_path",
        "absolute workspace path",
        id="relative-path",
    ),
    pytest.param(
        job(nb("a", notebook_task={"notebook_path": "nb", "source": "GIT"})),
        "$.tasks[0].notebook_task.source",
        "no git_source",
        id="git-without-source",
    ),
    pytest.param(
        job({"task_key": "a", "sql_task": {"warehouse_id": "w"}}),
        "$.tasks[0].sql_task",
        "exactly one of query",
        id="sql-nothing",
    ),
    pytest.param(
        job(nb("a", libraries=[{"pypi": {"package": "x"}, "whl": "y"}])),
        "$.tasks[0].libraries[0]",
        "exactly one of pypi",
        id="library-two",
    ),
    pytest.param(
        job(trigger={"file_arrival": {"url": "x"}, "periodic": {"interval": 1, "unit": "DAYS"}}),
        "$.trigger",
        "exactly one of file_arrival",
        id="trigger-two",
    ),
    pytest.param(
        job(trigger={"file_arrival": {"url": "x", "min_time_between_triggers_seconds": 5}}),
        "$.trigger.file_arrival.min_time_between_triggers_seconds",
        "at least 60",
        id="file-arrival-min",
    ),
    pytest.param(
        job(max_concurrent_runs=1001), "$.max_concurrent_runs", "at most 1000", id="max-concurrent"
    ),
    pytest.param(
        job(
            webhook_notifications={
                "on_failure": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]
            }
        ),
        "$.webhook_notifications.on_failure",
        "at most 3 items",
        id="webhooks-per-event",
    ),
    pytest.param(
        job(email_notifications={"on_failure": ["not-an-address"]}),
        "$.email_notifications.on_failure[0]",
        "not an email address",
        id="email",
    ),
    pytest.param(
        job(run_as={"user_name": "a", "service_principal_name": "b"}),
        "$.run_as",
        "exactly one of user_name",
        id="run-as",
    ),
    pytest.param(
        {"tasks": [nb("a")], "job_clusters": job()["job_clusters"]},
        "$.name",
        "`name` is required",
        id="no-name",
    ),
    pytest.param(job(tasks=[]), "$.tasks", "has no tasks", id="no-tasks"),
]


@pytest.mark.parametrize(("document", "path", "fragment"), INVALID)
def test_invalid_jobs_json_is_reported_at_its_path(
    document: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_job_settings(_drop_none(document))
    assert any(e.path == path and fragment in e.message for e in caught.value.errors), (
        caught.value.errors
    )


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def test_run_request_limits() -> None:
    assert check_run_request({"a": "b"}, "x" * 64) == []
    problems = check_run_request({"a": "x" * 10_000}, "x" * 65)
    assert [p.path for p in problems] == ["$.parameters", "$.idempotency_token"]
    assert "64" in problems[1].message


def test_a_lockgate_block_beside_jobs_json_is_never_sent_to_databricks() -> None:
    document = {
        "name": "orders",
        "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}}],
        "lockgate": {"mode": "one_time", "retry": {"max_attempts": 3}},
    }
    definition = parse_workflow(document)
    assert definition.format == "jobs"
    assert definition.warnings == ()  # read by the run engine, not an unknown key
    assert "lockgate" not in definition.to_job_settings()
    assert "lockgate" not in definition.export_job_settings()
    assert [w.path for w in export_warnings(definition)] == ["$.lockgate"]
