"""Every example of the seed guide (the ETL and ML workflows, the four task sets of
TaskConfigurationManager and every one of its templates) is accepted, with a warning for
each seed defect, and converts to Jobs JSON that passes Lockgate's own Jobs checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from databricks.sdk.service.jobs import JobSettings

from service.workflows import WorkflowDefinition, load_document, parse_job_settings, parse_workflow
from service.workflows._sql_parameters import lift_references

GUIDE_FIXTURES = {
    "etl_workflow.yaml": 7,
    "etl_workflow.json": 7,
    "ml_workflow.yaml": 6,
    "ml_workflow.json": 6,
    "ingestion_tasks.yaml": 5,
    "transformation_tasks.yaml": 4,
    "ml_pipeline_tasks.yaml": 5,
    "data_quality_tasks.yaml": 5,
    "task_templates.json": 9,
}


def _parse(fixture_bytes: Callable[[str], bytes], name: str) -> WorkflowDefinition:
    return parse_workflow(load_document(fixture_bytes(name)))


@pytest.mark.parametrize(("name", "tasks"), GUIDE_FIXTURES.items())
def test_guide_example_is_accepted_and_its_jobs_json_rechecks_clean(
    fixture_bytes: Callable[[str], bytes], name: str, tasks: int
) -> None:
    definition = _parse(fixture_bytes, name)
    assert definition.format == "seed"
    assert len(definition.task_keys) == tasks
    settings = definition.to_job_settings()
    again = parse_job_settings(settings)
    assert again.to_job_settings() == settings
    assert not again.warnings, again.warnings
    JobSettings.from_dict(settings)  # the SDK reads every field it knows


def test_templates_convert_each_task_type(fixture_bytes: Callable[[str], bytes]) -> None:
    definition = _parse(fixture_bytes, "task_templates.json")
    tasks = {task["task_key"]: task for task in definition.to_job_settings()["tasks"]}
    assert tasks["notebook-task"]["notebook_task"]["notebook_path"].startswith("/Shared/")
    advanced = tasks["advanced-notebook-task"]
    assert advanced["retry_on_timeout"] is True and advanced["min_retry_interval_millis"] == 5000
    assert {"maven": {"coordinates": "com.databricks:spark-xml_2.12:0.14.0"}} in advanced[
        "libraries"
    ]
    assert definition.task_alert_routes()["advanced-notebook-task"][0]["on_failure"] == (
        "team@company.com",
        "alerts@company.com",
    )
    assert tasks["python-wheel-task"]["python_wheel_task"] == {
        "package_name": "my_data_processing_package",
        "entry_point": "main",
        "parameters": [
            "--input-path",
            "/mnt/data/input",
            "--output-path",
            "/mnt/data/output",
            "--config",
            "production",
        ],
    }
    script = tasks["python-script-task"]["spark_python_task"]
    assert script["python_file"] == "dbfs:/mnt/scripts/data_processor.py"
    assert script["parameters"][2] == "{{job.start_time.iso_datetime}}"
    assert tasks["spark-jar-task"]["spark_jar_task"]["main_class_name"] == (
        "com.company.data.SparkDataProcessor"
    )
    assert tasks["dlt-pipeline-task"]["pipeline_task"] == {
        "pipeline_id": "your-dlt-pipeline-id",
        "full_refresh": False,
    }
    assert tasks["dlt-full-refresh-task"]["pipeline_task"]["full_refresh"] is True


def test_inline_sql_is_kept_published_as_a_file_and_inlined_for_the_local_backend(
    fixture_bytes: Callable[[str], bytes],
) -> None:
    definition = _parse(fixture_bytes, "task_templates.json")
    sql = {t["task_key"]: t for t in definition.to_job_settings()["tasks"]}[
        "parameterized-sql-task"
    ]
    path = "/Workspace/Shared/lockgate/guide-task-templates/parameterized-sql-task.sql"
    # Databricks resolves references in task parameters, never inside SQL text: the
    # reference moves into sql_task.parameters and the text keeps a parameter marker.
    assert sql["sql_task"] == {
        "warehouse_id": "your-sql-warehouse-id",
        "file": {"path": path, "source": "WORKSPACE"},
        "parameters": {"start_date": "{{job.start_time.iso_date}}"},
    }
    text = definition.workspace_files[path]
    assert text.startswith("CREATE OR REPLACE TABLE gold.daily_summary AS\n")
    assert "DATE('{{start_date}}')" in text and "WHERE transaction_date = '{{start_date}}'" in text
    assert "job.start_time" not in text
    local = {t["task_key"]: t for t in definition.to_job_settings(inline_sql=True)["tasks"]}
    assert local["parameterized-sql-task"]["sql_task"]["query"] == {"query_text": text}
    assert local["parameterized-sql-task"]["sql_task"]["parameters"] == {
        "start_date": "{{job.start_time.iso_date}}"
    }
    # The stored source keeps the text as written.
    assert "{{start_date}}" in definition.source["tasks"][5]["query"]
    messages = [w.message for w in definition.warnings if w.path == "$.tasks[5].query"]
    assert any("cannot carry SQL text" in m for m in messages)
    assert any("`{{start_date}}` is a legacy reference" in m for m in messages)
    assert any("passed as the SQL task parameter `start_date`" in m for m in messages)


def test_references_in_sql_text_become_parameters() -> None:
    text, parameters, notes = lift_references(
        "SELECT '{{job.run_id}}', '{{ job.parameters.`my day` }}', '{{start_date}}',"
        " '{{start_date}}', '{{region}}', :limit, '{{other.thing}}'"
    )
    assert text == (
        "SELECT '{{job_run_id}}', '{{job_parameters_my_day}}', '{{start_date}}',"
        " '{{start_date}}', '{{region}}', :limit, '{{other.thing}}'"
    )
    assert parameters == {
        "job_run_id": "{{job.run_id}}",
        "job_parameters_my_day": "{{job.parameters.`my day`}}",
        "start_date": "{{job.start_time.iso_date}}",
    }
    assert len(notes) == 4  # one per parameter, and the legacy name's own


@pytest.mark.parametrize(
    ("name", "path", "fragment"),
    [
        ("etl_workflow.yaml", "$.schedule.cron", "sent as `0 0 2 * * ?`"),
        ("ml_workflow.json", "$.schedule.cron", "sent as `0 0 6 ? * 2`"),
        ("etl_workflow.json", "$.tasks[0].parameters.validation_date", "needs an argument"),
        ("ingestion_tasks.yaml", "$.tasks[3].python_file", "runs as a spark_python_task"),
        ("task_templates.json", "$.tasks[3].python_file", "runs as a spark_python_task"),
        ("data_quality_tasks.yaml", "$.tasks[1].query", "cannot carry SQL text"),
        ("transformation_tasks.yaml", "$.tasks[2].query", "cannot carry SQL text"),
    ],
)
def test_each_seed_defect_is_a_warning(
    fixture_bytes: Callable[[str], bytes], name: str, path: str, fragment: str
) -> None:
    warnings = _parse(fixture_bytes, name).warnings
    assert any(w.path == path and fragment in w.message for w in warnings), warnings


def test_ingestion_python_file_runs_as_a_script(fixture_bytes: Callable[[str], bytes]) -> None:
    tasks = _parse(fixture_bytes, "ingestion_tasks.yaml").to_job_settings()["tasks"]
    api = tasks[3]
    assert "python_wheel_task" not in api
    assert api["spark_python_task"]["python_file"] == "dbfs:/mnt/scripts/api_ingestion.py"
    assert api["depends_on"] == [{"task_key": "validate-source-data"}]
