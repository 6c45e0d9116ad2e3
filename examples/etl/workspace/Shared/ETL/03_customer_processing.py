# Databricks notebook source
# MAGIC %md
# MAGIC # 03 Customer processing
# MAGIC Cleans the bronze customers (trimmed names, lower-case e-mail) and, with
# MAGIC `deduplication=true`, keeps one row per `customer_id` (the first seen).

# COMMAND ----------

import csv
import glob
import json
import os

DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

input_path = dbutils.widgets.get("input_path")
output_path = dbutils.widgets.get("output_path")
deduplicate = dbutils.widgets.get("deduplication").lower() == "true"

# COMMAND ----------

rows = []
for file_name in sorted(glob.glob(DBFS + input_path + "/*.csv")):
    with open(file_name, newline="", encoding="utf-8") as handle:
        rows.extend(csv.DictReader(handle))
if not rows:
    raise ValueError(f"no customer files in {input_path}")

cleaned = []
seen = set()
for row in rows:
    customer_id = row["customer_id"].strip()
    if deduplicate and customer_id in seen:
        continue
    seen.add(customer_id)
    cleaned.append(
        {
            "customer_id": customer_id,
            "name": " ".join(row["name"].split()).title(),
            "email": row["email"].strip().lower(),
            "country": row["country"].strip().upper(),
            "signup_date": row["signup_date"].strip(),
        }
    )

# COMMAND ----------

os.makedirs(DBFS + output_path, exist_ok=True)
with open(DBFS + output_path + "/customers.csv", "w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(cleaned[0]))
    writer.writeheader()
    writer.writerows(cleaned)
print(f"{len(rows)} rows in, {len(cleaned)} customers out")

dbutils.notebook.exit(
    json.dumps(
        {
            "input_rows": len(rows),
            "customers": len(cleaned),
            "duplicates_removed": len(rows) - len(cleaned),
        }
    )
)
