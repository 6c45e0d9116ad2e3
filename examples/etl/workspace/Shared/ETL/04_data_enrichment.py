# Databricks notebook source
# MAGIC %md
# MAGIC # 04 Data enrichment
# MAGIC Joins the silver customers with their transactions (all date partitions) into the gold
# MAGIC `customer_analytics` table: per-customer transaction count, total and date range.

# COMMAND ----------

import csv
import glob
import json
import os
from decimal import Decimal

DBFS = os.environ.get("LOCKGATE_DBFS_ROOT", "/dbfs")

customer_path = dbutils.widgets.get("customer_path")
transaction_path = dbutils.widgets.get("transaction_path")
enriched_path = dbutils.widgets.get("enriched_path")

# COMMAND ----------

with open(DBFS + customer_path + "/customers.csv", newline="", encoding="utf-8") as handle:
    customers = list(csv.DictReader(handle))

totals = {}
for file_name in sorted(glob.glob(DBFS + transaction_path + "/date=*/*.csv")):
    day = os.path.basename(os.path.dirname(file_name)).removeprefix("date=")
    with open(file_name, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            entry = totals.setdefault(
                row["customer_id"], {"count": 0, "total": Decimal("0"), "days": []}
            )
            entry["count"] += 1
            entry["total"] += Decimal(row["amount"])
            entry["days"].append(day)

# COMMAND ----------

analytics = []
for customer in customers:
    entry = totals.get(customer["customer_id"], {"count": 0, "total": Decimal("0"), "days": []})
    analytics.append(
        {
            "customer_id": customer["customer_id"],
            "name": customer["name"],
            "country": customer["country"],
            "transaction_count": entry["count"],
            "total_amount": f"{entry['total']:.2f}",
            "first_transaction_date": min(entry["days"], default=""),
            "last_transaction_date": max(entry["days"], default=""),
        }
    )

os.makedirs(DBFS + enriched_path, exist_ok=True)
with open(DBFS + enriched_path + "/customer_analytics.csv", "w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(analytics[0]))
    writer.writeheader()
    writer.writerows(analytics)

unmatched = sorted(set(totals) - {customer["customer_id"] for customer in customers})
dbutils.notebook.exit(
    json.dumps(
        {
            "customers": len(analytics),
            "with_transactions": sum(1 for row in analytics if row["transaction_count"]),
            "unmatched_customer_ids": unmatched,
        }
    )
)
