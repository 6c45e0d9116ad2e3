"""The seed guide's 7-task ETL example, seeded into a backend of its own and run to the end."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.databricks.local import seed_example
from tests.databricks.local.conftest import Jobs, start_backend, task_of, task_results


def _notebook(key: str, name: str, params: dict[str, str], *depends_on: str) -> dict[str, Any]:
    return {
        "task_key": key,
        "depends_on": [{"task_key": upstream} for upstream in depends_on],
        "job_cluster_key": "etl-cluster",
        "max_retries": 0,
        "notebook_task": {
            "notebook_path": f"/Shared/ETL/{name}",
            "base_parameters": params,
            "source": "WORKSPACE",
        },
    }


# The example as Jobs API settings, written out by hand (max_retries 0: a failure shows at once).
ETL_JOB: dict[str, Any] = {
    "name": "comprehensive-etl-pipeline",
    "timeout_seconds": 14400,
    "max_concurrent_runs": 1,
    "tags": {
        "environment": "production",
        "team": "data-engineering",
        "project": "customer-analytics",
    },
    "job_clusters": [
        {
            "job_cluster_key": "etl-cluster",
            "new_cluster": {
                "spark_version": "11.3.x-scala2.12",
                "node_type_id": "Standard_DS3_v2",
                "autoscale": {"min_workers": 2, "max_workers": 10},
            },
        }
    ],
    "tasks": [
        _notebook(
            "data-validation",
            "01_data_validation",
            {
                "environment": "production",
                "validation_date": "{{job.start_time}}",
                "strict_mode": "true",
            },
        ),
        _notebook(
            "raw-data-ingestion",
            "02_raw_data_ingestion",
            {
                "source_path": "/mnt/raw-data",
                "target_path": "/mnt/bronze-data",
                "processing_date": "{{job.start_time}}",
            },
            "data-validation",
        ),
        _notebook(
            "customer-data-processing",
            "03_customer_processing",
            {
                "input_path": "/mnt/bronze-data/customers",
                "output_path": "/mnt/silver-data/customers",
                "deduplication": "true",
            },
            "raw-data-ingestion",
        ),
        _notebook(
            "transaction-data-processing",
            "03_transaction_processing",
            {
                "input_path": "/mnt/bronze-data/transactions",
                "output_path": "/mnt/silver-data/transactions",
                "partition_by": "date",
            },
            "raw-data-ingestion",
        ),
        _notebook(
            "data-enrichment",
            "04_data_enrichment",
            {
                "customer_path": "/mnt/silver-data/customers",
                "transaction_path": "/mnt/silver-data/transactions",
                "enriched_path": "/mnt/gold-data/customer_analytics",
            },
            "customer-data-processing",
            "transaction-data-processing",
        ),
        _notebook(
            "data-quality-checks",
            "05_data_quality_checks",
            {
                "data_path": "/mnt/gold-data/customer_analytics",
                "quality_threshold": "0.95",
                "alert_on_failure": "true",
            },
            "data-enrichment",
        ),
        _notebook(
            "update-data-catalog",
            "06_update_catalog",
            {
                "catalog_name": "production_data",
                "schema_name": "customer_analytics",
                "table_path": "/mnt/gold-data/customer_analytics",
            },
            "data-quality-checks",
        ),
    ],
}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_workflow_yaml_is_the_guides_example_and_matches_the_jobs_json(
    tmp_path: Path,
) -> None:
    workflow_path = seed_example(tmp_path / "workspace", tmp_path / "dbfs")
    workflow = yaml.safe_load(workflow_path.read_text())
    assert workflow["name"] == "comprehensive-etl-pipeline"
    assert workflow["schedule"] == {"cron": "0 2 * * *", "timezone": "UTC"}
    assert [t["max_retries"] for t in workflow["tasks"]] == [2, 3, 2, 2, 2, 1, 1]
    for from_yaml, from_json in zip(workflow["tasks"], ETL_JOB["tasks"], strict=True):
        assert from_yaml["type"] == "notebook"
        assert from_yaml["task_key"] == from_json["task_key"]
        assert from_yaml["notebook_path"] == from_json["notebook_task"]["notebook_path"]
        assert from_yaml["parameters"] == from_json["notebook_task"]["base_parameters"]
        assert from_yaml.get("depends_on", []) == [d["task_key"] for d in from_json["depends_on"]]
        assert from_yaml["job_cluster_key"] == "etl-cluster"
        notebook = tmp_path / "workspace" / f"{from_yaml['notebook_path'].lstrip('/')}.py"
        assert notebook.read_text().startswith("# Databricks notebook source\n")
    assert (tmp_path / "dbfs" / "mnt" / "raw-data" / "customers.csv").is_file()


def test_seed_example_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.databricks.local import _example

    monkeypatch.setattr(_example, "EXAMPLE_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        seed_example(tmp_path / "workspace", tmp_path / "dbfs")


def test_the_etl_example_runs_to_success_on_the_local_backend(tmp_path: Path) -> None:
    with start_backend(tmp_path, max_parallel_tasks=4) as backend:
        seed_example(backend.config.workspace_dir, backend.config.dbfs_root)
        with httpx.Client(
            base_url=backend.url, headers={"Authorization": "Bearer t"}, timeout=10
        ) as client:
            jobs = Jobs(client)
            run = jobs.wait(jobs.run_now(jobs.create(**ETL_JOB)), timeout=60)
            failures = {
                task["task_key"]: jobs.output(task["run_id"]).get("error_trace")
                for task in run["tasks"]
                if task["state"].get("result_state") != "SUCCESS"
            }
            assert failures == {}
            assert run["state"]["result_state"] == "SUCCESS"
            assert set(task_results(run).values()) == {"SUCCESS"}
            assert len(run["tasks"]) == 7
            customers = jobs.output(task_of(run, "customer-data-processing")["run_id"])
            assert json.loads(customers["notebook_output"]["result"]) == {
                "input_rows": 31,
                "customers": 30,
                "duplicates_removed": 1,
            }

    dbfs = backend.config.dbfs_root
    raw = _read_csv(dbfs / "mnt" / "raw-data" / "transactions.csv")
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for row in raw:
        expected[row["customer_id"]] += Decimal(row["amount"])

    gold = _read_csv(dbfs / "mnt" / "gold-data" / "customer_analytics" / "customer_analytics.csv")
    assert len(gold) == 30  # one row per customer, the duplicate removed
    totals = {row["customer_id"]: Decimal(row["total_amount"]) for row in gold}
    assert totals == {f"C{n:03d}": expected.get(f"C{n:03d}", Decimal("0")) for n in range(1, 31)}
    assert sum(totals.values()) == sum(Decimal(row["amount"]) for row in raw)
    assert totals["C028"] == Decimal("0")  # a customer without transactions is still listed
    assert {row["customer_id"]: row["name"] for row in gold}["C007"] == "Sofia Hansen"

    partitions = sorted(p.name for p in (dbfs / "mnt" / "silver-data" / "transactions").iterdir())
    assert partitions == ["date=2025-03-01", "date=2025-03-02", "date=2025-03-03"]
    catalog = json.loads(
        (
            dbfs
            / "mnt"
            / "catalog"
            / "production_data"
            / "customer_analytics"
            / "customer_analytics.json"
        ).read_text()
    )
    assert catalog["full_name"] == "production_data.customer_analytics.customer_analytics"
    assert catalog["row_count"] == 30
