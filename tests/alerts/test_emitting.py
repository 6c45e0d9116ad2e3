"""Events become delivery rows in the caller's transaction: inline routes, named channels,
Databricks' switches, the dedupe window folding repeats into one alert with a count."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.runs.delivery import payload_to_send
from service.runs.finishing import emit_event, emit_run_event, finish_run
from service.settings import Settings
from service.store.models import AlertDelivery, DeliveryStatus, Run, TaskRun, utcnow
from service.store.repositories import alert_channels as channels_repo
from service.store.repositories import alerts as alerts_repo
from service.store.repositories import events as events_repo
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo
from tests.factories import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        public_url="https://lockgate.example.com",
        alert_dedupe_window_seconds=900,
        alert_throttle_limit=0,
    )


def workflow(sessions: sessionmaker[Session], name: str = "etl", **extra: Any) -> str:
    source = {
        "name": name,
        "tags": {"team": "data"},
        "notifications": {"on_failure": ["owner@example.com"], "on_start": ["start@example.com"]},
        "tasks": [
            {"task_key": "load", "type": "notebook", "notebook_path": "/x", "max_retries": 0},
        ],
        **extra,
    }
    with sessions.begin() as session:
        return workflows_repo.create_workflow(session, name=name, source=source).id


def failed_run(
    sessions: sessionmaker[Session], workflow_id: str, key: str, status: str = "failed"
) -> str:
    with sessions.begin() as session:
        event, _ = events_repo.record_event(
            session,
            source="webhook",
            source_name="hook",
            dedupe_key=key,
            workflow_id=workflow_id,
            payload={},
            parameters={},
        )
        run = runs_repo.create_run(
            session, workflow_id=workflow_id, trigger_event_id=event.id, parameters={}
        )
        run.status = status
        run.result_state = {"failed": "FAILED", "canceled": "CANCELED"}.get(status, "SUCCESS")
        run.started_at = utcnow() - timedelta(minutes=3)
        run.ended_at = utcnow()
        run.tasks.append(
            TaskRun(task_key="load", result_state="FAILED", error="ValueError: bad row 7")
        )
        return run.id


def finish(
    sessions: sessionmaker[Session], run_id: str, settings: Settings, **kw: Any
) -> list[str]:
    with sessions.begin() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return finish_run(session, run=run, settings=settings, **kw)


def deliveries(sessions: sessionmaker[Session]) -> list[AlertDelivery]:
    with sessions() as session:
        return alerts_repo.list_recent_deliveries(session, limit=100)[::-1]


def test_a_failed_run_alerts_its_inline_targets_once_with_content(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    run_id = failed_run(sessions, workflow(sessions), "k1")
    [delivery_id] = finish(sessions, run_id, settings)
    assert finish(sessions, run_id, settings) == []  # the same ending observed again
    [delivery] = deliveries(sessions)
    assert (delivery.id, delivery.target, delivery.event_type) == (
        delivery_id,
        "owner@example.com",
        "run.failed",
    )
    payload = delivery.payload
    assert payload["run"]["lockgate_url"] == f"https://lockgate.example.com/api/v1/runs/{run_id}"
    assert payload["failed_tasks"][0]["error"] == "ValueError: bad row 7"
    assert payload["trigger"]["source"] == "webhook" and payload["workflow"]["tags"] == {
        "team": "data"
    }
    assert payload["run"]["duration_seconds"] == pytest.approx(180, abs=2)


def test_named_channels_narrow_by_tags_and_events(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    workflow_id = workflow(sessions)
    with sessions.begin() as session:
        ops = channels_repo.create_channel(session, name="etl-failures", description=None)
        for target, tags, events in [
            ("https://hooks.slack.example.com/data", {"team": "data"}, ["run.failed"]),
            ("https://hooks.slack.example.com/ml", {"team": "ml"}, []),
            ("https://hooks.slack.example.com/starts", {}, ["run.started"]),
        ]:
            channels_repo.add_subscription(
                session,
                channel=ops,
                kind="webhook",
                target=target,
                format="slack",
                event_types=events,
                workflows=[],
                workflow_tags=tags,
            )
    run_id = failed_run(sessions, workflow_id, "k1")
    finish(sessions, run_id, settings)
    assert sorted((d.target, d.format, d.channel_name or "") for d in deliveries(sessions)) == [
        ("https://hooks.slack.example.com/data", "slack", "etl-failures"),
        ("owner@example.com", "generic", ""),
    ]


def test_no_alert_for_canceled_runs_from_notification_settings(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    workflow_id = workflow(sessions, notification_settings={"no_alert_for_canceled_runs": True})
    run_id = failed_run(sessions, workflow_id, "k1", status="canceled")
    assert finish(sessions, run_id, settings) == []


def test_repeats_within_the_window_fold_into_one_alert_with_a_count(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    workflow_id = workflow(sessions)
    now = utcnow()
    first_run, second_run, third_run = (
        failed_run(sessions, workflow_id, f"k{i}") for i in range(3)
    )
    [alert_id] = finish(sessions, first_run, settings, now=now)
    assert finish(sessions, second_run, settings, now=now + timedelta(minutes=5)) == []
    with sessions() as session:
        alert = alerts_repo.get_delivery(session, delivery_id=alert_id)
        assert alert is not None
        sent = payload_to_send(alert)
    assert sent["alert"]["occurrences"] == 2
    [folded] = [d for d in deliveries(sessions) if d.status == DeliveryStatus.SUPPRESSED]
    assert folded.folded_into_id == alert_id and folded.run_id == second_run
    # After the window, a new alert, which says how many were folded after the last send.
    with sessions.begin() as session:
        alert = alerts_repo.get_delivery(session, delivery_id=alert_id)
        assert alert is not None
        alerts_repo.mark_delivered(session, delivery=alert)
    assert finish(sessions, third_run, settings, now=now + timedelta(minutes=6)) == []
    fourth_run = failed_run(sessions, workflow_id, "k4")
    [new_id] = finish(sessions, fourth_run, settings, now=now + timedelta(minutes=16))
    with sessions() as session:
        new = alerts_repo.get_delivery(session, delivery_id=new_id)
        assert new is not None and new.payload["suppressed_since_last_alert"] == 1


def test_run_events_and_run_less_events(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    workflow_id = workflow(sessions)
    run_id = failed_run(sessions, workflow_id, "k1")
    with sessions.begin() as session:
        channel = channels_repo.create_channel(session, name="ops", description=None)
        channels_repo.add_subscription(
            session,
            channel=channel,
            kind="email",
            target="ops@example.com",
            format="generic",
            event_types=["trigger.rejected", "run.duration_warning"],
            workflows=[],
            workflow_tags={},
        )
    with sessions.begin() as session:
        run = session.get(Run, run_id)
        assert run is not None
        started = emit_run_event(session, run=run, event_type="run.started", settings=settings)
        warned = emit_run_event(
            session,
            run=run,
            event_type="run.duration_warning",
            detail={"limit_seconds": 60, "elapsed_seconds": 95},
            settings=settings,
        )
        detail = {"reason": "bad signature", "event_id": "e-1"}
        rejected = emit_event(
            session,
            event_type="trigger.rejected",
            workflow_name="etl",
            detail=detail,
            settings=settings,
        )
        again = emit_event(
            session,
            event_type="trigger.rejected",
            workflow_name="etl",
            detail=detail,
            settings=settings,
        )
    assert (len(started), len(warned), len(rejected), again) == (1, 1, 1, [])
    by_event = {d.event_type: d for d in deliveries(sessions)}
    assert by_event["run.started"].target == "start@example.com"
    assert by_event["run.duration_warning"].payload["detail"]["elapsed_seconds"] == 95
    assert by_event["trigger.rejected"].run_id is None
    assert by_event["trigger.rejected"].target == "ops@example.com"


def subscribe(
    sessions: sessionmaker[Session], target: str, event_types: list[str], *, kind: str = "email"
) -> None:
    with sessions.begin() as session:
        channel = channels_repo.get_channel(session, name="ops") or channels_repo.create_channel(
            session, name="ops", description=None
        )
        channels_repo.add_subscription(
            session,
            channel=channel,
            kind=kind,
            target=target,
            format="generic",
            event_types=event_types,
            workflows=[],
            workflow_tags={},
        )


def jobs_json_workflow(sessions: sessionmaker[Session], **extra: Any) -> str:
    """A workflow written as Databricks Jobs JSON, with job- and task-level lists."""
    source = {
        "name": "orders",
        "email_notifications": {"on_failure": ["job-owner@example.com"]},
        "tasks": [
            {
                "task_key": "load",
                "notebook_task": {"notebook_path": "/Shared/load"},
                "email_notifications": {"on_failure": ["load-team@example.com"]},
                "notification_settings": {"alert_on_last_attempt": True},
            },
            {
                "task_key": "clean",
                "notebook_task": {"notebook_path": "/Shared/clean"},
                "email_notifications": {"on_failure": ["clean-team@example.com"]},
            },
        ],
        **extra,
    }
    with sessions.begin() as session:
        return workflows_repo.create_workflow(session, name="orders", source=source).id


def test_jobs_json_email_notifications_on_failure_make_a_delivery(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    run_id = failed_run(sessions, jobs_json_workflow(sessions), "k1")
    finish(sessions, run_id, settings)
    # The job's list; the task lists hear only their own task failing ("load" here).
    assert sorted((d.target, d.event_type) for d in deliveries(sessions)) == [
        ("job-owner@example.com", "run.failed"),
        ("load-team@example.com", "run.failed"),
    ]


def test_seed_webhooks_on_failure_make_a_delivery(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    workflow_id = workflow(
        sessions, webhooks={"on_failure": ["https://hooks.example.com/etl-failed"]}
    )
    run_id = failed_run(sessions, workflow_id, "k1")
    ids = finish(sessions, run_id, settings)
    by_target = {d.target: d for d in deliveries(sessions)}
    assert set(by_target) == {"owner@example.com", "https://hooks.example.com/etl-failed"}
    hook = by_target["https://hooks.example.com/etl-failed"]
    assert (hook.channel, hook.event_type, hook.format) == ("webhook", "run.failed", "generic")
    assert hook.id in ids and hook.payload["failed_tasks"][0]["task_key"] == "load"


def test_alert_on_last_attempt_silences_only_the_tasks_own_lists(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    workflow_id = jobs_json_workflow(sessions)
    subscribe(sessions, "retries@example.com", ["run.retrying"])
    run_id = failed_run(sessions, workflow_id, "k1")
    with sessions.begin() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.tasks.append(TaskRun(task_key="clean", result_state="FAILED", error="clean failed"))
        session.flush()
        emit_run_event(session, run=run, event_type="run.retrying", settings=settings)
    # "load" waits for its last attempt; "clean" did not ask to; the channel asked for
    # retries. (The job's own list never hears retries.)
    assert sorted(d.target for d in deliveries(sessions)) == [
        "clean-team@example.com",
        "retries@example.com",
    ]


def test_the_throttle_lets_a_turn_to_failure_through(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        alert_dedupe_window_seconds=0,
        alert_throttle_window_seconds=3600,
        alert_throttle_limit=2,
    )
    workflow_id = workflow(sessions)
    subscribe(sessions, "everything@example.com", [])
    now = utcnow()
    outcomes = ["failed", "succeeded", "succeeded", "failed", "failed"]
    for minute, status in enumerate(outcomes):
        run_id = failed_run(sessions, workflow_id, f"k{minute}", status=status)
        finish(sessions, run_id, settings, now=now + timedelta(minutes=minute))
    told = [
        (d.event_type, d.status)
        for d in deliveries(sessions)
        if d.target == "everything@example.com"
    ]
    assert told == [
        ("run.failed", DeliveryStatus.PENDING),
        ("run.succeeded", DeliveryStatus.PENDING),
        # The limit (2) is reached: more good news folds into the latest alert ...
        ("run.succeeded", DeliveryStatus.SUPPRESSED),
        # ... but the turn to failure is told, or the target would believe all is well.
        ("run.failed", DeliveryStatus.PENDING),
        # Once told, more failures fold.
        ("run.failed", DeliveryStatus.SUPPRESSED),
    ]
