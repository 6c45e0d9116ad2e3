"""Repair mode: re-run an ended run's failed tasks (and their dependents) in place.

runs/repair has no idempotency token. What keeps a repair from happening twice is
``latest_repair_id``: Lockgate sends the last repair id it recorded, and before sending
reads the run's repair history, so a repair made by a worker that died before recording
it is adopted rather than made again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.databricks import DatabricksClient

if TYPE_CHECKING:
    from service.runs.submission import SubmissionPlan


class RunStillActive(Exception):
    """The run to repair has not ended at Databricks."""


def repair_in_databricks(
    client: DatabricksClient, plan: SubmissionPlan
) -> tuple[int | None, int, int]:
    """Repairs the plan's run; returns (job id, run id, repair id)."""
    assert plan.databricks_run_id is not None
    info = client.get_run(plan.databricks_run_id)
    made = _latest_repair_id(info.raw)
    if made is not None and made != plan.latest_repair_id:
        # A worker repaired it and died before recording so: adopt that repair.
        return info.job_id, plan.databricks_run_id, made
    if not info.is_terminal:
        raise RunStillActive("the run to repair is still active at Databricks")
    repair_id = client.repair_run(
        plan.databricks_run_id,
        rerun_tasks=plan.rerun_tasks or None,
        rerun_all_failed_tasks=not plan.rerun_tasks,
        rerun_dependent_tasks=True,
        latest_repair_id=plan.latest_repair_id,
    )
    return info.job_id, plan.databricks_run_id, repair_id


def _latest_repair_id(raw: Any) -> int | None:
    history = raw.get("repair_history") if hasattr(raw, "get") else None
    latest: int | None = None
    for entry in history or ():
        if isinstance(entry, dict) and entry.get("type") == "REPAIR":
            value = entry.get("id")
            if isinstance(value, int):
                latest = value if latest is None else max(latest, value)
    return latest
