"""Seed documents -> Jobs JSON: task types, defaults, rewrites, tags, routes, warnings."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk.service.jobs import JobSettings

from service.workflows import (
    WorkflowDefinition,
    WorkflowInvalid,
    parse_job_settings,
    parse_workflow,
)
from service.workflows._seed_recheck import seed_path
from tests.workflows.conftest import notebook, workflow


def _only_task(definition: WorkflowDefinition) -> dict[str, Any]:
    (task,) = definition.to_job_settings()["tasks"]
    return task


def _warnings(definition: WorkflowDefinition) -> dict[str, str]:
    return {warning.path: warning.message for warning in definition.warnings}


def test_notebook_task_stringifies_parameters_and_applies_seed_defaults() -> None:
    definition = parse_workflow(
        workflow(notebook("a", parameters={"n": 5, "ratio": 0.5, "strict": True, "s": "x"}))
    )

    assert _only_task(definition) == {
        "task_key": "a",
        "notebook_task": {
            "notebook_path": "/Shared/a",
            "source": "WORKSPACE",
            "base_parameters": {"n": "5", "ratio": "0.5", "strict": "true", "s": "x"},
        },
        "timeout_seconds": 3600,
        "max_retries": 2,
        "min_retry_interval_millis": 2000,
        "retry_on_timeout": False,
    }
    assert definition.warnings == ()


def test_job_defaults_and_lockgate_tag() -> None:
    settings = parse_workflow(workflow(tags={"team": "data"})).to_job_settings()

    assert settings["timeout_seconds"] == 86400
    assert settings["max_concurrent_runs"] == 1
    assert settings["tags"] == {"team": "data", "lockgate_workflow": "orders-daily"}
    assert "schedule" not in settings
    assert "job_clusters" not in settings
    assert "parameters" not in settings


def test_python_file_runs_as_a_script() -> None:
    definition = parse_workflow(
        workflow(
            {
                "task_key": "ingest",
                "type": "python",
                "python_file": "dbfs:/mnt/scripts/api_ingestion.py",
                "parameters": ["--rate-limit", 100, "--date", "{{job.start_time}}"],
            }
        )
    )

    task = _only_task(definition)
    assert task["spark_python_task"] == {
        "python_file": "dbfs:/mnt/scripts/api_ingestion.py",
        "parameters": ["--rate-limit", "100", "--date", "{{job.start_time.iso_datetime}}"],
    }
    assert "python_wheel_task" not in task
    assert "iso_datetime" in _warnings(definition)["$.tasks[0].parameters[3]"]


def test_python_file_with_package_name_is_a_script_with_a_warning() -> None:
    definition = parse_workflow(
        workflow(
            {
                "task_key": "p",
                "type": "python",
                "python_file": "/Workspace/run.py",
                "package_name": "etl",
                "entry_point": "main",
            }
        )
    )

    assert _only_task(definition)["spark_python_task"] == {"python_file": "/Workspace/run.py"}
    warnings = _warnings(definition)
    assert "runs `python_file` as a Python script" in warnings["$.tasks[0].package_name"]
    assert "$.tasks[0].entry_point" in warnings


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (["--config", "prod"], {"parameters": ["--config", "prod"]}),
        (
            {"config": "prod", "workers": 4},
            {"named_parameters": {"config": "prod", "workers": "4"}},
        ),
        (None, {}),
    ],
)
def test_wheel_task(parameters: Any, expected: dict[str, Any]) -> None:
    task = {"task_key": "w", "type": "python", "package_name": "etl", "entry_point": "main"}
    if parameters is not None:
        task["parameters"] = parameters

    converted = _only_task(parse_workflow(workflow(task)))

    assert converted["python_wheel_task"] == {
        "package_name": "etl",
        "entry_point": "main",
        **expected,
    }


@pytest.mark.parametrize(
    ("task", "key", "payload"),
    [
        (
            {
                "type": "jar",
                "main_class_name": "com.x.Main",
                "parameters": ["a", 1],
                "existing_cluster_id": "0101-abc",
            },
            "spark_jar_task",
            {"main_class_name": "com.x.Main", "parameters": ["a", "1"]},
        ),
        (
            {"type": "sql", "warehouse_id": "wh1", "query_id": "q1"},
            "sql_task",
            {"warehouse_id": "wh1", "query": {"query_id": "q1"}},
        ),
        (
            {"type": "sql", "warehouse_id": "wh1", "file": "/Workspace/q.sql"},
            "sql_task",
            {"warehouse_id": "wh1", "file": {"path": "/Workspace/q.sql"}},
        ),
        (
            {"type": "dlt", "pipeline_id": "p1", "full_refresh": True},
            "pipeline_task",
            {"pipeline_id": "p1", "full_refresh": True},
        ),
    ],
)
def test_other_task_types_map_as_the_seed_did(
    task: dict[str, Any], key: str, payload: dict[str, Any]
) -> None:
    converted = _only_task(parse_workflow(workflow({"task_key": "t", **task})))

    assert converted[key] == payload


def test_every_task_type_is_valid_jobs_json() -> None:
    definition = parse_workflow(
        workflow(
            notebook("nb", job_cluster_key="c", libraries=[{"pypi": {"package": "x"}}]),
            {"task_key": "py", "type": "python", "python_file": "a.py", "parameters": ["1"]},
            {
                "task_key": "whl",
                "type": "python",
                "package_name": "p",
                "entry_point": "m",
                "parameters": {"k": "v"},
                "existing_cluster_id": "0101-abc",
            },
            {
                "task_key": "jar",
                "type": "jar",
                "main_class_name": "M",
                "depends_on": ["nb"],
                "new_cluster": {
                    "spark_version": "15.4.x-scala2.12",
                    "node_type_id": "Standard_DS3_v2",
                    "num_workers": 1,
                },
            },
            {"task_key": "sql", "type": "sql", "warehouse_id": "w", "query_id": "q"},
            {
                "task_key": "inline",
                "type": "sql",
                "warehouse_id": "w",
                "query": "SELECT '{{start_date}}'",
            },
            {"task_key": "dlt", "type": "dlt", "pipeline_id": "p"},
            job_clusters=[
                {
                    "cluster_key": "c",
                    "autoscale": False,
                    "num_workers": 3,
                    "custom_disk": True,
                    "init_scripts": [{"workspace": {"destination": "/i.sh"}}],
                    "spark_env_vars": {"ENV": "prod"},
                    "custom_tags": {"team": "data"},
                }
            ],
            schedule={
                "cron": "0 0 5 ? * MON",
                "timezone": "Europe/Amsterdam",
                "pause_status": "PAUSED",
            },
            parameters=[{"name": "run_date", "default": "{{start_date}}"}],
            description="orders",
        )
    )
    settings = definition.to_job_settings()

    # Lockgate's own Jobs checks accept the conversion as it is ...
    again = parse_job_settings(settings)
    assert again.to_job_settings() == settings
    assert [w.path for w in again.warnings] == ["$.schedule.pause_status"]
    # ... and the SDK reads every field of it.
    assert JobSettings.from_dict(settings).as_dict() == settings


@pytest.mark.parametrize(
    ("task", "path", "fragment"),
    [
        (
            {"task_key": "j", "type": "jar", "main_class_name": "M"},
            "$.tasks[1]",
            "a spark_jar_task needs a cluster",
        ),
        (
            {"task_key": "d", "type": "dlt", "pipeline_id": "p", "job_cluster_key": "c"},
            "$.tasks[1].job_cluster_key",
            "a pipeline_task runs without a cluster",
        ),
        (
            {
                "task_key": "s",
                "type": "sql",
                "warehouse_id": "w",
                "query_id": "q",
                "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "n"},
            },
            "$.tasks[1].new_cluster",
            "a sql_task runs without a cluster",
        ),
        (
            notebook(
                "n",
                new_cluster={
                    "spark_version": "15.4.x-scala2.12",
                    "node_type_id": "n",
                    "num_workers": 2,
                    "autoscale": {"min_workers": 1, "max_workers": 3},
                },
            ),
            "$.tasks[1].new_cluster.num_workers",
            "cannot be set together with autoscale",
        ),
        (
            notebook("n", parameters={"big": "x" * 10_001}),
            "$.tasks[1].parameters",
            "Databricks allows 10000",
        ),
        (
            notebook(
                "n",
                job_cluster_key="c",
                libraries=[{"pypi": {"package": "x"}, "whl": "dbfs:/x.whl"}],
            ),
            "$.tasks[1].libraries[0]",
            "a library is exactly one of",
        ),
    ],
)
def test_jobs_rules_apply_to_seed_tasks_at_the_seeds_paths(
    task: dict[str, Any], path: str, fragment: str
) -> None:
    document = workflow(
        notebook("a", job_cluster_key="c"), task, job_clusters=[{"cluster_key": "c"}]
    )

    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(document)

    assert any(e.path == path and fragment in e.message for e in caught.value.errors), (
        caught.value.errors
    )


@pytest.mark.parametrize(
    ("overrides", "path", "fragment"),
    [
        ({"parameters": [{"name": "p", "default": "x" * 10_001}]}, "$.parameters", "10000"),
        (
            {"trigger": {"periodic": {"interval": 1, "unit": "MINUTES"}}},
            "$.trigger.periodic.unit",
            "HOURS",
        ),
        (
            {"trigger": {"file_arrival": {"url": "s3://x/"}, "periodic": {"interval": 1}}},
            "$.trigger",
            "exactly one of",
        ),
        (
            {"health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "LESS_THAN"}]}},
            "$.health.rules[0].op",
            "GREATER_THAN",
        ),
        ({"queue": {"enabled": "yes"}}, "$.queue.enabled", "true or false"),
    ],
)
def test_jobs_rules_apply_to_seed_job_settings(
    overrides: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(workflow(**overrides))

    assert any(e.path == path and fragment in e.message for e in caught.value.errors), (
        caught.value.errors
    )


@pytest.mark.parametrize(
    ("converted", "seed"),
    [
        ("$.tasks[1].notebook_task.base_parameters.d", "$.tasks[4].parameters.d"),
        ("$.tasks[1].python_wheel_task.named_parameters", "$.tasks[4].parameters"),
        ("$.tasks[1].spark_jar_task.main_class_name", "$.tasks[4].main_class_name"),
        ("$.tasks[1].sql_task.query.query_id", "$.tasks[4].query_id"),
        ("$.tasks[1].sql_task.file.path", "$.tasks[4].file"),
        ("$.tasks[2].sql_task.file.path", "$.tasks[5].query"),  # inline SQL, published
        ("$.tasks[2].sql_task.parameters.start_date", "$.tasks[5].query"),
        ("$.tasks[1].depends_on[0].task_key", "$.tasks[4].depends_on[0]"),
        ("$.tasks[1].new_cluster.num_workers", "$.tasks[4].new_cluster.num_workers"),
        ("$.tasks[1]", "$.tasks[4]"),
        ("$.job_clusters[0].job_cluster_key", "$.job_clusters[3].cluster_key"),
        ("$.job_clusters[0].new_cluster.node_type_id", "$.job_clusters[3].node_type"),
        ("$.job_clusters[0].new_cluster.autoscale.max_workers", "$.job_clusters[3].max_workers"),
        (
            "$.job_clusters[0].new_cluster.azure_attributes.availability",
            "$.job_clusters[3].availability",
        ),
        ("$.job_clusters[0].new_cluster.cluster_log_conf.dbfs", "$.job_clusters[3].cluster_key"),
        ("$.job_clusters[0].new_cluster.spark_conf['a.b']", "$.job_clusters[3].spark_conf['a.b']"),
        ("$.schedule.quartz_cron_expression", "$.schedule.cron"),
        ("$.trigger.periodic.unit", "$.trigger.periodic.unit"),
        ("$.tasks[9].x", "$.tasks[9].x"),  # no such converted task: left as it is
    ],
)
def test_converted_paths_map_back_to_the_seed(converted: str, seed: str) -> None:
    task_locs = [("tasks", 0), ("tasks", 4), ("tasks", 5)]
    cluster_locs = [("job_clusters", 3)]

    assert seed_path(converted, task_locs, cluster_locs, frozenset({2})) == seed


def test_job_cluster_fixed_size_without_the_seeds_disk_spec() -> None:
    definition = parse_workflow(
        workflow(
            notebook("a", job_cluster_key="c"),
            job_clusters=[
                {"cluster_key": "c", "autoscale": False, "num_workers": 3, "custom_disk": True}
            ],
        )
    )

    new_cluster = definition.to_job_settings()["job_clusters"][0]["new_cluster"]
    assert new_cluster["num_workers"] == 3
    assert "autoscale" not in new_cluster
    # disk_spec is an instance-pool field; the Jobs API's cluster spec has none.
    assert "disk_spec" not in new_cluster
    assert "instance pools" in _warnings(definition)["$.job_clusters[0].custom_disk"]
    assert new_cluster["spark_version"] == "11.3.x-scala2.12"
    assert new_cluster["node_type_id"] == "Standard_DS3_v2"
    assert new_cluster["cluster_log_conf"] == {"dbfs": {"destination": "dbfs:/cluster-logs/c"}}


def test_job_cluster_autoscale_drops_num_workers_with_a_warning() -> None:
    definition = parse_workflow(
        workflow(
            notebook("a", job_cluster_key="c"),
            job_clusters=[{"cluster_key": "c", "num_workers": 4}],
        )
    )

    new_cluster = definition.to_job_settings()["job_clusters"][0]["new_cluster"]
    assert new_cluster["autoscale"] == {"min_workers": 1, "max_workers": 8}
    assert "num_workers" not in new_cluster
    assert "autoscale is on" in _warnings(definition)["$.job_clusters[0].num_workers"]


def test_quartz_schedule_passes_without_warning() -> None:
    definition = parse_workflow(workflow(schedule={"cron": "0 30 1 ? * SUN"}))

    assert definition.to_job_settings()["schedule"] == {
        "quartz_cron_expression": "0 30 1 ? * SUN",
        "timezone_id": "UTC",
        "pause_status": "UNPAUSED",
    }
    assert definition.warnings == ()


def test_legacy_references_are_rewritten_with_warnings() -> None:
    definition = parse_workflow(
        workflow(
            notebook("a", parameters={"day": "{{start_date}}", "at": "{{ job.start_time }}"}),
            parameters=[{"name": "since", "default": "{{job.start_time}}"}],
        )
    )

    settings = definition.to_job_settings()
    assert settings["tasks"][0]["notebook_task"]["base_parameters"] == {
        "day": "{{job.start_time.iso_date}}",
        "at": "{{job.start_time.iso_datetime}}",
    }
    assert settings["parameters"] == [
        {"name": "since", "default": "{{job.start_time.iso_datetime}}"}
    ]
    assert set(_warnings(definition)) == {
        "$.tasks[0].parameters.day",
        "$.tasks[0].parameters.at",
        "$.parameters[0].default",
    }


def test_current_references_are_left_alone() -> None:
    definition = parse_workflow(
        workflow(
            notebook("a", parameters={"d": "{{job.start_time.iso_date}}", "r": "{{job.run_id}}"})
        )
    )

    assert _only_task(definition)["notebook_task"]["base_parameters"] == {
        "d": "{{job.start_time.iso_date}}",
        "r": "{{job.run_id}}",
    }
    assert definition.warnings == ()


def test_job_parameters_pass_through() -> None:
    definition = parse_workflow(
        workflow(parameters=[{"name": "region", "default": "eu"}, {"name": "limit", "default": 10}])
    )

    assert definition.job_parameter_names == ("region", "limit")
    assert definition.to_job_settings()["parameters"] == [
        {"name": "region", "default": "eu"},
        {"name": "limit", "default": "10"},
    ]


def test_notifications_are_lockgate_routes_not_job_settings() -> None:
    definition = parse_workflow(
        workflow(
            notebook(
                "a",
                email_notifications={"on_failure": ["owner@example.com"]},
                webhook_notifications={"on_success": ["https://hooks.example.com/a"]},
            ),
            notifications={
                "on_start": ["ops@example.com"],
                "on_failure": ["ops@example.com", "oncall@example.com", "ops@example.com"],
            },
            webhooks={"on_failure": ["https://hooks.example.com/fail"]},
        )
    )

    settings = definition.to_job_settings()
    assert "email_notifications" not in settings
    assert "webhook_notifications" not in settings
    assert "email_notifications" not in settings["tasks"][0]
    assert "webhook_notifications" not in settings["tasks"][0]
    email, webhook = definition.alert_routes()
    assert email == {
        "on_start": ("ops@example.com",),
        "on_success": (),
        "on_failure": ("ops@example.com", "oncall@example.com"),
    }
    assert webhook == {
        "on_start": (),
        "on_success": (),
        "on_failure": ("https://hooks.example.com/fail",),
    }
    task_email, task_webhook = definition.task_alert_routes()["a"]
    assert task_email["on_failure"] == ("owner@example.com",)
    assert task_webhook["on_success"] == ("https://hooks.example.com/a",)


def test_depends_on_repeats_are_sent_once_with_a_warning() -> None:
    definition = parse_workflow(workflow(notebook("a"), notebook("b", depends_on=["a", "a"])))

    assert definition.to_job_settings()["tasks"][1]["depends_on"] == [{"task_key": "a"}]
    assert "twice" in _warnings(definition)["$.tasks[1].depends_on[1]"]


def test_one_compute_per_task_with_a_warning_for_the_rest() -> None:
    definition = parse_workflow(
        workflow(
            notebook("a", job_cluster_key="c", existing_cluster_id="0101-abc"),
            job_clusters=[{"cluster_key": "c"}],
        )
    )

    task = _only_task(definition)
    assert task["job_cluster_key"] == "c"
    assert "existing_cluster_id" not in task
    assert "`job_cluster_key` is set" in _warnings(definition)["$.tasks[0].existing_cluster_id"]


def test_unknown_keys_are_warnings_not_errors() -> None:
    definition = parse_workflow(
        workflow(
            notebook("a", timout_seconds=5, python_file="x.py"),
            owner="team-data",
            notifications={"on_fail": ["a@example.com"]},
        )
    )

    warnings = _warnings(definition)
    assert "did you mean 'timeout_seconds'?" in warnings["$.tasks[0].timout_seconds"]
    assert "not used by notebook tasks" in warnings["$.tasks[0].python_file"]
    assert "unknown key 'owner' is ignored" in warnings["$.owner"]
    assert "did you mean 'on_failure'?" in warnings["$.notifications.on_fail"]
    assert _only_task(definition)["timeout_seconds"] == 3600


def test_unused_job_cluster_is_a_warning() -> None:
    definition = parse_workflow(workflow(job_clusters=[{"cluster_key": "spare"}]))

    assert "not used by any task" in _warnings(definition)["$.job_clusters[0].cluster_key"]


def test_settings_and_source_are_copies() -> None:
    document = workflow(tags={"team": "data"})
    definition = parse_workflow(document)

    definition.to_job_settings()["tags"]["team"] = "changed"
    document["tags"]["team"] = "changed too"

    assert definition.to_job_settings()["tags"]["team"] == "data"
    assert definition.source["tags"] == {"team": "data"}
    assert definition.source["name"] == "orders-daily"
