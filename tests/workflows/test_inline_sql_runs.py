"""The seed guide's parameterized SQL template runs on the local backend: the reference
lifted out of its text arrives as a SQL task parameter, resolves to the run's start
date, and the marker left in the text is filled from it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from service.workflows import load_document, parse_workflow
from tests.databricks.local.conftest import (  # noqa: F401  (the backend's fixtures)
    Jobs,
    api,
    jobs,
    local_backend,
    task_of,
)

# Two transactions on each of yesterday, today and tomorrow (UTC): whichever day the run
# starts on, the summary counts that day's two.
_SETUP = """
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;
CREATE OR REPLACE TABLE silver.transactions AS
SELECT customer_id, amount,
       CAST(timezone('UTC', now()) AS DATE) + CAST(day AS INTEGER) AS transaction_date
FROM (VALUES (1, 10.5), (2, 4.25)) AS t(customer_id, amount), range(-1, 2) AS r(day);
"""


def test_the_guides_parameterized_sql_runs_with_the_start_date(
    jobs: Jobs,  # noqa: F811
    fixture_bytes: Callable[[str], bytes],
) -> None:
    definition = parse_workflow(load_document(fixture_bytes("task_templates.json")))
    settings = definition.to_job_settings(inline_sql=True)
    [template] = [t for t in settings["tasks"] if t["task_key"] == "parameterized-sql-task"]
    assert template["sql_task"]["parameters"] == {"start_date": "{{job.start_time.iso_date}}"}
    job_id = jobs.create(
        {
            "task_key": "setup",
            "sql_task": {"warehouse_id": "local", "query": {"query_text": _SETUP}},
        },
        {**template, "depends_on": [{"task_key": "setup"}], "max_retries": 0},
        {
            "task_key": "check",
            "depends_on": [{"task_key": "parameterized-sql-task"}],
            "sql_task": {
                "warehouse_id": "local",
                "query": {"query_text": "SELECT * FROM gold.daily_summary"},
            },
        },
        name="guide-parameterized-sql",
    )

    run = jobs.wait(jobs.run_now(job_id))

    assert task_of(run, "parameterized-sql-task")["state"]["result_state"] == "SUCCESS", run
    result = jobs.output(task_of(run, "check")["run_id"])["sql_output"]["query_output"]["result"]
    assert result["columns"] == [
        "summary_date",
        "unique_customers",
        "total_transactions",
        "total_revenue",
    ]
    started = datetime.fromtimestamp(run["start_time"] / 1000, tz=UTC).date().isoformat()
    assert result["rows"] == [[started, 2, 2, "14.75"]]
