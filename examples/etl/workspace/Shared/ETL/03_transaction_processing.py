# Databricks notebook source
# MAGIC %md
# MAGIC # 03 Transaction processing
# MAGIC Validates the bronze transactions and writes them to the silver layer partitioned by
# MAGIC `partition_by` (`date` -> one `date=YYYY-MM-DD/` folder per transaction date).

# COMMAND ----------

import csv
import glob
import json
import os
from decimal import Decimal, InvalidOperation

DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

input_path = dbutils.widgets.get("input_path")
output_path = dbutils.widgets.get("output_path")
partition_by = dbutils.widgets.get("partition_by")
if partition_by != "date":
    raise ValueError(f"partition_by={partition_by!r}: this notebook partitions by date only")

# COMMAND ----------

partitions = {}
for file_name in sorted(glob.glob(DBFS + input_path + "/*.csv")):
    with open(file_name, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                amount = Decimal(row["amount"])
            except InvalidOperation:
                raise ValueError(f"bad amount {row['amount']!r} on line {number}") from None
            record = {
                "transaction_id": row["transaction_id"].strip(),
                "customer_id": row["customer_id"].strip(),
                "amount": f"{amount:.2f}",
                "currency": row["currency"].strip().upper(),
            }
            partitions.setdefault(row["transaction_date"].strip(), []).append(record)

# COMMAND ----------

for day, records in sorted(partitions.items()):
    folder = f"{DBFS}{output_path}/date={day}"
    os.makedirs(folder, exist_ok=True)
    with open(folder + "/part-00000.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    print(f"date={day}: {len(records)} transactions")

dbutils.notebook.exit(
    json.dumps(
        {
            "transactions": sum(len(records) for records in partitions.values()),
            "partitions": sorted(partitions),
        }
    )
)
