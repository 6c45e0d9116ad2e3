# Databricks notebook source
# MAGIC %md
# MAGIC # 01 Data validation
# MAGIC Checks that the raw customer and transaction files are present and have the expected
# MAGIC columns; in strict mode every row must also have its required values.

# COMMAND ----------

import csv
import json
import os
from datetime import datetime, timezone

# On Databricks /dbfs is the DBFS FUSE mount; the local backend points this elsewhere.
DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

dbutils.widgets.text("source_path", "/mnt/raw-data")
environment = dbutils.widgets.get("environment")
strict_mode = dbutils.widgets.get("strict_mode").lower() == "true"
source_path = dbutils.widgets.get("source_path")


def run_date(value):
    """A date from a parameter; an unresolved {{job.start_time}} means today (UTC)."""
    if value and not value.startswith("{{"):
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc).date().isoformat()
        return value[:10]
    return datetime.now(timezone.utc).date().isoformat()


validation_date = run_date(dbutils.widgets.get("validation_date"))

# COMMAND ----------

EXPECTED = {
    "customers.csv": ["customer_id", "name", "email", "country", "signup_date"],
    "transactions.csv": ["transaction_id", "customer_id", "transaction_date", "amount", "currency"],
}
counts = {}
for file_name, columns in EXPECTED.items():
    path = DBFS + source_path + "/" + file_name
    if not os.path.exists(path):
        raise FileNotFoundError(f"missing raw file {source_path}/{file_name}")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != columns:
            raise ValueError(f"{file_name}: expected columns {columns}, got {reader.fieldnames}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{file_name} has no rows")
    if strict_mode:
        for number, row in enumerate(rows, start=2):
            empty = [column for column in columns if not (row[column] or "").strip()]
            if empty:
                raise ValueError(f"{file_name} line {number}: empty {', '.join(empty)}")
    counts[file_name] = len(rows)
    print(f"{file_name}: {len(rows)} rows, columns ok")

# COMMAND ----------

dbutils.notebook.exit(
    json.dumps(
        {
            "environment": environment,
            "validation_date": validation_date,
            "strict_mode": strict_mode,
            "rows": counts,
        }
    )
)
