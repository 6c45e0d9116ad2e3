"""A store with something on every console page: the ETL example workflow, a hook, a
webhook event whose payload plants a script, a run with a failed task (whose error plants
another), its attempts, a channel with a subscription and a dead-lettered alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from service.store.models import AlertDelivery, Run, TaskRun, TriggerEvent, utcnow
from service.store.models.alerting import AlertAttempt, AlertChannel, AlertSubscription
from service.store.models.engine import RunAttempt
from service.store.repositories import workflows as workflows_repo
from service.workflows import load_document, parse_workflow

REPO = Path(__file__).resolve().parents[2]
ETL = REPO / "examples" / "etl" / "workflow.yaml"
PLANT = "<script>alert('planted')</script>"
SECRET_IN_PAYLOAD = "sk-live-never-show-this-value"


@dataclass(frozen=True)
class Seeded:
    workflow: str
    evil_workflow: str
    event_id: str
    run_id: str
    evil_run_id: str
    delivery_id: str
    hook: str


def etl_source() -> dict[str, object]:
    return parse_workflow(load_document(ETL.read_text())).source


def seed(sessions: sessionmaker[Session]) -> Seeded:
    now = utcnow()
    with sessions.begin() as session:
        etl = workflows_repo.create_workflow(
            session, name="comprehensive-etl-pipeline", source=etl_source()
        )
        evil_name = f"evil{PLANT}"
        evil = workflows_repo.create_workflow(
            session,
            name=evil_name,
            source={
                "name": evil_name,
                "tasks": [{"task_key": "only", "type": "notebook", "notebook_path": "/Shared/x"}],
            },
        )
        workflows_repo.create_hook(
            session,
            name="orders",
            workflow_name=etl.name,
            secret="hook-secret-123456",
            parameters={"d": "$.date"},
        )
        event = TriggerEvent(
            source="webhook",
            source_name="orders",
            dedupe_key="key:1",
            workflow_id=etl.id,
            payload={"date": "2026-11-25", "note": PLANT, "api_key": SECRET_IN_PAYLOAD},
            parameters={"d": "2026-11-25"},
            status="dispatched",
            verdict="dispatched",
            received_at=now - timedelta(minutes=10),
        )
        session.add(event)
        session.flush()
        run = Run(
            workflow_id=etl.id,
            trigger_event_id=event.id,
            status="failed",
            attempt=1,
            parameters={"d": "2026-11-25"},
            databricks_job_id=7,
            databricks_run_id=70,
            run_page_url="http://127.0.0.1:8091/#job/7/run/70",
            life_cycle_state="TERMINATED",
            result_state="FAILED",
            requested_at=now - timedelta(minutes=10),
            started_at=now - timedelta(minutes=9),
            ended_at=now - timedelta(minutes=2),
        )
        session.add(run)
        session.flush()
        keys = [
            "data-validation",
            "raw-data-ingestion",
            "customer-data-processing",
            "transaction-data-processing",
            "data-enrichment",
            "data-quality-checks",
            "update-data-catalog",
        ]
        for i, key in enumerate(keys):
            failed = key == "data-enrichment"
            later = i > 4
            session.add(
                TaskRun(
                    run_id=run.id,
                    task_key=key,
                    databricks_run_id=700 + i,
                    attempt_number=0,
                    life_cycle_state="TERMINATED",
                    result_state="UPSTREAM_FAILED"
                    if later
                    else ("FAILED" if failed else "SUCCESS"),
                    error=f"boom {PLANT}" if failed else None,
                    started_at=None if later else now - timedelta(minutes=9 - i),
                    ended_at=None if later else now - timedelta(minutes=8 - i),
                    duration_ms=None if later else 60_000,
                )
            )
        session.add(
            RunAttempt(
                run_id=run.id,
                attempt=1,
                kind="run-now",
                databricks_run_id=70,
                started_at=now - timedelta(minutes=9),
                ended_at=now - timedelta(minutes=2),
                result_state="FAILED",
                decision="give_up",
                decision_reason="no retries left",
            )
        )
        evil_event = TriggerEvent(
            source="manual",
            source_name=evil_name,
            dedupe_key="once:1",
            workflow_id=evil.id,
            payload={},
            parameters={},
            status="dispatched",
            verdict="dispatched",
        )
        session.add(evil_event)
        session.flush()
        evil_run = Run(
            workflow_id=evil.id, trigger_event_id=evil_event.id, status="running", attempt=1
        )
        session.add(evil_run)
        channel = AlertChannel(name="etl-failures", description=f"desc {PLANT}")
        session.add(channel)
        session.flush()
        session.add(
            AlertSubscription(
                channel_id=channel.id,
                kind="webhook",
                target="http://127.0.0.1:9/alerts",
                format="generic",
            )
        )
        delivery = AlertDelivery(
            run_id=run.id,
            event_type="run.failed",
            channel="webhook",
            target="http://127.0.0.1:9/alerts",
            payload={"error": PLANT},
            status="dead",
            attempts=1,
            last_error=f"refused {PLANT}",
            workflow_name=etl.name,
            channel_name="etl-failures",
        )
        session.add(delivery)
        session.flush()
        session.add(
            AlertAttempt(
                delivery_id=delivery.id,
                number=1,
                outcome="dead",
                error=f"refused {PLANT}",
                finished_at=now,
            )
        )
        return Seeded(etl.name, evil_name, event.id, run.id, evil_run.id, delivery.id, "orders")
