"""A task's output, read from Databricks when someone asks for it.

Lockgate keeps a failed task's error (it goes into alerts), not every task's output:
reading ``get-output`` for every task of every run would spend the workspace's request
budget on pages nobody opens. So the run page links each task here, and this page makes
the one ``get-output`` call, from the run's own workspace, within the shared budget.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from service.databricks import DatabricksError, NotFound, RunOutput
from service.runs.workspaces import WorkspaceClients
from service.store.models import Run, TaskRun
from service.ui._errors import UiError
from service.ui._render import render
from service.ui._sessions import SignedIn

router = APIRouter(prefix="/ui", include_in_schema=False)

_LOG_TAIL = 20_000  # the end of the logs is where a run says how it ended
_RESULT_HEAD = 20_000


@router.get("/runs/{run_id}/tasks/{task_key}/output", name="ui_task_output")
def task_output(request: Request, run_id: str, task_key: str, console: SignedIn) -> Response:
    with request.app.state.sessions() as session:
        run = session.get(Run, run_id)
        task = session.scalars(
            select(TaskRun)
            .where(TaskRun.run_id == run_id, TaskRun.task_key == task_key)
            .order_by(TaskRun.attempt_number.desc())
        ).first()
        if run is None or task is None or task.databricks_run_id is None:
            raise UiError(
                404, "No such task run", f"run {run_id} has no task {task_key!r} at Databricks"
            )
        workspace, task_run_id = run.workspace, task.databricks_run_id
    output = _read_output(request, workspace, task_run_id)
    logs = output.logs or ""
    return render(
        request,
        "task_output.html",
        {
            "console": console,
            "run_id": run_id,
            "task_key": task_key,
            "task_run_id": task_run_id,
            "result": (output.notebook_result or "")[:_RESULT_HEAD],
            "result_truncated": output.notebook_result_truncated
            or len(output.notebook_result or "") > _RESULT_HEAD,
            "logs": logs[-_LOG_TAIL:],
            "logs_truncated": output.logs_truncated or len(logs) > _LOG_TAIL,
            "error": output.error,
            "error_trace": output.error_trace,
        },
    )


def _read_output(request: Request, workspace: str, task_run_id: int) -> RunOutput:
    clients = WorkspaceClients.from_settings(request.app.state.settings)
    try:
        return clients.get(workspace).get_run_output(task_run_id)
    except NotFound as exc:
        raise UiError(404, "Databricks no longer has this output", str(exc)) from exc
    except DatabricksError as exc:
        raise UiError(502, "Databricks did not answer", str(exc)) from exc
    finally:
        clients.close()
