# Databricks notebook source
# MAGIC %md
# MAGIC # 05 Data quality checks
# MAGIC Scores the gold table (share of rows that pass every check) and fails the task when the
# MAGIC score is below `quality_threshold`, so the catalog is not updated with bad data.

# COMMAND ----------

import csv
import json
import os
from decimal import Decimal, InvalidOperation

DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

data_path = dbutils.widgets.get("data_path")
threshold = float(dbutils.widgets.get("quality_threshold"))
alert_on_failure = dbutils.widgets.get("alert_on_failure").lower() == "true"

# COMMAND ----------


def problems_of(row):
    problems = []
    if not row["customer_id"].strip():
        problems.append("customer_id is empty")
    if not row["name"].strip():
        problems.append("name is empty")
    try:
        if Decimal(row["total_amount"]) < 0:
            problems.append("total_amount is negative")
    except InvalidOperation:
        problems.append("total_amount is not a number")
    if not row["transaction_count"].isdigit():
        problems.append("transaction_count is not a count")
    return problems


with open(DBFS + data_path + "/customer_analytics.csv", newline="", encoding="utf-8") as handle:
    rows = list(csv.DictReader(handle))
if not rows:
    raise ValueError(f"{data_path} is empty")
failing = {row["customer_id"]: problems_of(row) for row in rows if problems_of(row)}
ids = [row["customer_id"] for row in rows]
duplicates = sorted({customer_id for customer_id in ids if ids.count(customer_id) > 1})
score = (len(rows) - len(failing)) / len(rows)
print(f"quality score {score:.3f} over {len(rows)} rows; duplicates: {duplicates or 'none'}")

# COMMAND ----------

if duplicates:
    raise ValueError(f"duplicate customer_id in {data_path}: {', '.join(duplicates)}")
if score < threshold:
    detail = "; ".join(f"{key}: {', '.join(found)}" for key, found in sorted(failing.items())[:5])
    message = f"quality score {score:.3f} is below the threshold {threshold} ({detail})"
    if alert_on_failure:
        raise ValueError(message)
    print("WARNING:", message)

dbutils.notebook.exit(json.dumps({"rows": len(rows), "score": round(score, 4)}))
