# Databricks notebook source
# MAGIC %md
# MAGIC # 02 Raw data ingestion
# MAGIC Copies the raw CSV files into the bronze layer, one folder per dataset, stamping each
# MAGIC row with the processing date.

# COMMAND ----------

import csv
import json
import os
from datetime import datetime, timezone

DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

source_path = dbutils.widgets.get("source_path")
target_path = dbutils.widgets.get("target_path")


def run_date(value):
    """A date from a parameter; an unresolved {{job.start_time}} means today (UTC)."""
    if value and not value.startswith("{{"):
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc).date().isoformat()
        return value[:10]
    return datetime.now(timezone.utc).date().isoformat()


processing_date = run_date(dbutils.widgets.get("processing_date"))

# COMMAND ----------

ingested = {}
for dataset in ("customers", "transactions"):
    with open(DBFS + f"{source_path}/{dataset}.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    folder = DBFS + f"{target_path}/{dataset}"
    os.makedirs(folder, exist_ok=True)
    with open(f"{folder}/{dataset}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*columns, "processing_date"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "processing_date": processing_date})
    ingested[dataset] = len(rows)
    print(f"ingested {len(rows)} {dataset} rows into {target_path}/{dataset}")

# COMMAND ----------

dbutils.notebook.exit(json.dumps({"processing_date": processing_date, "rows": ingested}))
