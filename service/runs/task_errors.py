"""What went wrong in a run's failed tasks: the error text from ``get-output``, one call
per failed task (the latest attempt of each), the state message where it has none."""

from __future__ import annotations

from service.databricks import DatabricksClient, NotFound, RunInfo
from service.runs.recording import latest_attempts, state_value
from service.runs.states import FAILED_TASK_RESULTS


def failed_task_errors(client: DatabricksClient, run: RunInfo) -> dict[str, str]:
    """task key -> error text, for each task whose latest attempt failed."""
    errors: dict[str, str] = {}
    for task in latest_attempts(run.tasks).values():
        if state_value(task.result_state) not in FAILED_TASK_RESULTS:
            continue
        try:
            output = client.get_run_output(task.run_id)
        except NotFound:
            errors[task.task_key] = task.state_message or ""
            continue
        errors[task.task_key] = output.error or task.state_message or ""
    return errors
