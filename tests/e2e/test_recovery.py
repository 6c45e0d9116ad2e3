"""Nothing depends on a Celery message arriving: work committed but never enqueued, or
half done by a worker that died, is pushed on by the sweeper, with one Databricks run."""

from __future__ import annotations

from service.databricks import DatabricksClient
from service.runs.dispatch import dispatch_event
from service.runs.submission import plan_submission, send_to_databricks
from service.store.models import RunStatus
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo
from service.triggers.ledger import record_trigger
from tests.e2e.conftest import Lockgate, ended
from tests.e2e.test_webhook_to_run import _backend_runs, _notebook


def _quick_workflow(lockgate: Lockgate) -> str:
    _notebook(lockgate, "/Tests/ok", "dbutils.notebook.exit('ok')")
    response = lockgate.api.post(
        "/api/v1/workflows",
        json={
            "name": "quick",
            "tasks": [
                {
                    "task_key": "t",
                    "type": "notebook",
                    "notebook_path": "/Tests/ok",
                    "max_retries": 0,
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    with lockgate.sessions() as session:
        workflow = workflows_repo.get_workflow_by_name(session, name="quick")
        assert workflow is not None
        return workflow.id


def test_an_event_committed_but_never_enqueued_still_runs(lockgate: Lockgate) -> None:
    workflow_id = _quick_workflow(lockgate)
    # What a crash between the commit and the publish leaves behind: the row, no message.
    with lockgate.sessions.begin() as session:
        accepted = record_trigger(
            session,
            source="webhook",
            source_name="lost",
            dedupe_key="key:lost-1",
            workflow_id=workflow_id,
            payload={},
            parameters={},
        )
    lockgate.start_worker()
    run = lockgate.wait_for_run(accepted.event_id, ended, timeout=60)
    assert run["status"] == "succeeded"
    assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1


def test_a_worker_dying_after_databricks_accepted_the_run_makes_no_second_run(
    lockgate: Lockgate,
) -> None:
    workflow_id = _quick_workflow(lockgate)
    with lockgate.sessions.begin() as session:
        accepted = record_trigger(
            session,
            source="manual",
            source_name="quick",
            dedupe_key="key:crash-1",
            workflow_id=workflow_id,
            payload={},
            parameters={},
        )
    with lockgate.sessions.begin() as session:
        run_id = dispatch_event(session, event_id=accepted.event_id)
        assert run_id is not None
        assert runs_repo.claim_for_submission(session, run_id=run_id)
        plan = plan_submission(session, run_id=run_id)
        assert plan is not None
    # The dead worker's last act: Databricks accepted the run, nothing was recorded.
    with DatabricksClient.from_settings(lockgate.settings) as client:
        job_id, first_databricks_run = send_to_databricks(lockgate.sessions, client, plan)
    with lockgate.sessions() as session:
        stuck = runs_repo.get_run(session, run_id=run_id)
        assert stuck is not None and stuck.status == RunStatus.SUBMITTING

    lockgate.start_worker()
    run = lockgate.wait_for_run(accepted.event_id, ended, timeout=60)

    assert run["status"] == "succeeded"
    assert run["databricks_run_id"] == first_databricks_run
    assert len(_backend_runs(lockgate, job_id)) == 1
