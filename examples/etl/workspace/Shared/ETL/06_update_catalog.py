# Databricks notebook source
# MAGIC %md
# MAGIC # 06 Update data catalog
# MAGIC Writes a small JSON catalog entry for the gold table (location, columns, row count) to
# MAGIC `/mnt/catalog/<catalog_name>/<schema_name>/<table>.json`.

# COMMAND ----------

import csv
import json
import os
from datetime import datetime, timezone

DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

catalog_name = dbutils.widgets.get("catalog_name")
schema_name = dbutils.widgets.get("schema_name")
table_path = dbutils.widgets.get("table_path")
table_name = os.path.basename(table_path.rstrip("/"))

# COMMAND ----------

with open(DBFS + table_path + f"/{table_name}.csv", newline="", encoding="utf-8") as handle:
    reader = csv.DictReader(handle)
    row_count = sum(1 for _ in reader)
    columns = list(reader.fieldnames or [])

entry = {
    "catalog": catalog_name,
    "schema": schema_name,
    "table": table_name,
    "full_name": f"{catalog_name}.{schema_name}.{table_name}",
    "location": f"dbfs:{table_path}/{table_name}.csv",
    "format": "csv",
    "columns": columns,
    "row_count": row_count,
    "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
}
folder = DBFS + f"/mnt/catalog/{catalog_name}/{schema_name}"
os.makedirs(folder, exist_ok=True)
with open(f"{folder}/{table_name}.json", "w", encoding="utf-8") as handle:
    json.dump(entry, handle, indent=2)
print("catalog entry written for", entry["full_name"])

# COMMAND ----------

dbutils.notebook.exit(json.dumps({"table": entry["full_name"], "row_count": row_count}))
