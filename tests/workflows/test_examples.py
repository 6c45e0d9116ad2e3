"""The seed guide's ETL and ML examples, read from YAML and JSON and converted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from databricks.sdk.service.jobs import JobSettings

from service.workflows import WorkflowDefinition, load_document, parse_workflow


def _parse(fixture_bytes: Callable[[str], bytes], name: str) -> WorkflowDefinition:
    return parse_workflow(load_document(fixture_bytes(name)))


def _values(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _values(item)


def _keys(value: Any) -> Iterator[str]:
    for item in _values(value):
        if isinstance(item, dict):
            yield from item


def test_etl_example_converts_to_jobs_json(fixture_bytes: Callable[[str], bytes]) -> None:
    definition = _parse(fixture_bytes, "etl_workflow.yaml")
    settings = definition.to_job_settings()

    assert definition.name == "comprehensive-etl-pipeline"
    assert settings["name"] == "comprehensive-etl-pipeline"
    assert settings["timeout_seconds"] == 14400
    assert settings["max_concurrent_runs"] == 1
    assert settings["schedule"] == {
        "quartz_cron_expression": "0 0 2 * * ?",
        "timezone_id": "UTC",
        "pause_status": "UNPAUSED",
    }
    assert settings["tags"] == {
        "environment": "production",
        "team": "data-engineering",
        "project": "customer-analytics",
        "lockgate_workflow": "comprehensive-etl-pipeline",
    }

    (cluster,) = settings["job_clusters"]
    assert cluster["job_cluster_key"] == "etl-cluster"
    new_cluster = cluster["new_cluster"]
    assert new_cluster["autoscale"] == {"min_workers": 2, "max_workers": 10}
    assert "num_workers" not in new_cluster
    assert new_cluster["node_type_id"] == "Standard_DS3_v2"
    assert new_cluster["spark_conf"]["spark.sql.adaptive.enabled"] == "true"
    assert "disk_spec" not in new_cluster

    tasks = {task["task_key"]: task for task in settings["tasks"]}
    assert list(tasks) == list(definition.task_keys)
    assert len(tasks) == 7
    enrichment = tasks["data-enrichment"]
    assert enrichment["depends_on"] == [
        {"task_key": "customer-data-processing"},
        {"task_key": "transaction-data-processing"},
    ]
    assert enrichment["job_cluster_key"] == "etl-cluster"
    assert enrichment["timeout_seconds"] == 1800
    assert enrichment["max_retries"] == 2
    assert enrichment["min_retry_interval_millis"] == 2000
    assert "depends_on" not in tasks["data-validation"]
    validation = tasks["data-validation"]["notebook_task"]
    assert validation["notebook_path"] == "/Shared/ETL/01_data_validation"
    assert validation["source"] == "WORKSPACE"
    assert validation["base_parameters"] == {
        "environment": "production",
        "validation_date": "{{job.start_time.iso_datetime}}",
        "strict_mode": "true",
    }
    assert (
        tasks["data-quality-checks"]["notebook_task"]["base_parameters"]["quality_threshold"]
        == "0.95"
    )


def test_etl_example_warns_about_what_was_rewritten(fixture_bytes: Callable[[str], bytes]) -> None:
    definition = _parse(fixture_bytes, "etl_workflow.yaml")

    paths = [warning.path for warning in definition.warnings]
    assert paths == [
        "$.schedule.cron",
        "$.tasks[0].parameters.validation_date",
        "$.tasks[1].parameters.processing_date",
    ]
    assert "0 0 2 * * ?" in definition.warnings[0].message


def test_ml_example_converts_to_jobs_json(fixture_bytes: Callable[[str], bytes]) -> None:
    definition = _parse(fixture_bytes, "ml_workflow.json")
    settings = definition.to_job_settings()

    # Monday in Unix cron is 1; in Quartz it is 2, and day-of-month becomes `?`.
    assert settings["schedule"]["quartz_cron_expression"] == "0 0 6 ? * 2"
    clusters = {
        cluster["job_cluster_key"]: cluster["new_cluster"] for cluster in settings["job_clusters"]
    }
    assert set(clusters) == {"ml-training-cluster", "ml-inference-cluster"}
    assert clusters["ml-training-cluster"]["driver_node_type_id"] == "Standard_DS4_v2"
    assert clusters["ml-inference-cluster"]["autoscale"] == {"min_workers": 1, "max_workers": 4}
    tasks = {task["task_key"]: task for task in settings["tasks"]}
    assert tasks["batch-inference"]["job_cluster_key"] == "ml-inference-cluster"
    assert tasks["batch-inference"]["depends_on"] == [{"task_key": "model-registration"}]
    assert tasks["model-training"]["timeout_seconds"] == 7200
    assert tasks["model-training"]["max_retries"] == 1
    assert definition.job_parameter_names == ()


@pytest.mark.parametrize("name", ["etl_workflow.yaml", "ml_workflow.json"])
def test_examples_send_no_nulls_and_no_notifications(
    fixture_bytes: Callable[[str], bytes], name: str
) -> None:
    settings = _parse(fixture_bytes, name).to_job_settings()

    assert all(value is not None for value in _values(settings))
    keys = set(_keys(settings))
    assert "email_notifications" not in keys
    assert "webhook_notifications" not in keys


@pytest.mark.parametrize("name", ["etl_workflow.yaml", "ml_workflow.json"])
def test_examples_are_jobs_settings_the_sdk_reads_without_loss(
    fixture_bytes: Callable[[str], bytes], name: str
) -> None:
    # The SDK's from_dict drops keys it does not know; a lossless round trip means every
    # key and nesting we send is part of the Jobs API.
    settings = _parse(fixture_bytes, name).to_job_settings()

    assert JobSettings.from_dict(settings).as_dict() == settings


def test_examples_alert_routes_come_from_notifications(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    email, webhook = _parse(fixture_bytes, "ml_workflow.json").alert_routes()

    assert email == {
        "on_start": (),
        "on_success": ("ml-team@company.com",),
        "on_failure": ("ml-team@company.com", "data-team@company.com"),
    }
    assert webhook == {"on_start": (), "on_success": (), "on_failure": ()}


@pytest.mark.parametrize("example", ["etl", "ml"])
def test_yaml_and_json_give_the_same_result(
    fixture_bytes: Callable[[str], bytes], example: str
) -> None:
    from_yaml = _parse(fixture_bytes, f"{example}_workflow.yaml")
    from_json = _parse(fixture_bytes, f"{example}_workflow.json")

    assert from_yaml.to_job_settings() == from_json.to_job_settings()
    assert from_yaml.alert_routes() == from_json.alert_routes()
    assert from_yaml.warnings == from_json.warnings
    assert from_yaml.task_keys == from_json.task_keys
