"""Runs of Databricks jobs Lockgate did not start become alerts, with a real store (SQLite
and PostgreSQL) and real delivery (an SMTP server, an HTTP receiver standing in for
Slack): only subscriptions naming the job (by id, name or tag) hear it, an ending
recorded twice alerts nobody twice, and the alert names the job and its failing task."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.job_runs import (
    job_alert_routes,
    job_event_type,
    record_job_run_alerts,
    wants_job_run,
)
from service.databricks.models import RunInfo
from service.runs.delivery import deliver_alert
from service.settings import Settings
from service.store.models import AlertDelivery, DeliveryStatus
from service.store.repositories import alert_channels as channels_repo
from service.store.repositories import alerts as alerts_repo
from service.workspace.ended_runs import EndedRun, JobInfo
from tests.alerts.conftest import HTTPReceiver, SMTPFixture

STARTED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
ENDED = STARTED + timedelta(minutes=2, seconds=30)
RUN_PAGE = "http://127.0.0.1:8091/#job/123/run/9001"
ERROR = "Traceback (most recent call last):\nKeyError: 'invoice_id'"
BILLING = JobInfo(job_id=123, name="billing-export", tags={"team": "finance"})


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def ended_run(**overrides: Any) -> EndedRun:
    values: dict[str, Any] = {
        "workspace": "default",
        "run_id": 9001,
        "repair_id": None,
        "run_name": "billing-export",
        "job": BILLING,
        "life_cycle_state": "TERMINATED",
        "result_state": "FAILED",
        "termination_code": "RUN_EXECUTION_ERROR",
        "state_message": "Task extract failed with message: KeyError: 'invoice_id'.",
        "started_at": STARTED,
        "ended_at": ENDED,
        "run_page_url": RUN_PAGE,
    }
    values.update(overrides)
    return EndedRun(**values)


def task(key: str, run_id: int, attempt: int, result: str, start_s: int, end_s: int) -> Any:
    return {
        "task_key": key,
        "run_id": run_id,
        "attempt_number": attempt,
        "state": {"life_cycle_state": "TERMINATED", "result_state": result},
        "start_time": ms(STARTED + timedelta(seconds=start_s)),
        "end_time": ms(STARTED + timedelta(seconds=end_s)),
    }


def runs_get() -> RunInfo:
    """runs/get of the failed run: two tasks, each tried twice. ``extract`` failed both
    times; ``publish`` failed once and then succeeded, so it is not failing."""
    return RunInfo.from_api(
        {
            "run_id": 9001,
            "job_id": 123,
            "run_name": "billing-export",
            "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"},
            "start_time": ms(STARTED),
            "end_time": ms(ENDED),
            "run_page_url": RUN_PAGE,
            "job_parameters": [{"name": "day", "default": "today", "value": "2026-03-01"}],
            "tasks": [
                task("extract", 9002, 0, "FAILED", 0, 40),
                task("publish", 9003, 0, "FAILED", 0, 20),
                task("extract", 9004, 1, "FAILED", 60, 135),
                task("publish", 9005, 1, "SUCCESS", 30, 50),
            ],
        }
    )


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        alert_dedupe_window_seconds=900, alert_throttle_limit=0, public_url="https://lg.example"
    )


def subscribe(sessions: sessionmaker[Session], channel: str, target: str, **narrowing: Any) -> None:
    kind = "email" if "@" in target else "webhook"
    with sessions.begin() as session:
        found = channels_repo.get_channel(session, name=channel)
        made = found or channels_repo.create_channel(session, name=channel, description=None)
        channels_repo.add_subscription(
            session,
            channel=made,
            kind=kind,
            target=target,
            format=narrowing.pop("format", "generic"),
            event_types=narrowing.pop("event_types", []),
            workflows=narrowing.pop("workflows", []),
            workflow_tags=narrowing.pop("workflow_tags", {}),
            **narrowing,
        )


def record(
    sessions: sessionmaker[Session],
    settings: Settings,
    ended: EndedRun,
    run: RunInfo | None = None,
    task_errors: dict[str, str] | None = None,
) -> list[str]:
    with sessions.begin() as session:
        return record_job_run_alerts(
            session,
            ended=ended,
            run=run,
            task_errors=task_errors if task_errors is not None else {"extract": ERROR},
            settings=settings,
        )


def deliveries(sessions: sessionmaker[Session]) -> list[AlertDelivery]:
    with sessions() as session:
        return alerts_repo.list_recent_deliveries(session, limit=100)[::-1]


@pytest.fixture
def subscribed(sessions: sessionmaker[Session], http_receiver: HTTPReceiver) -> HTTPReceiver:
    """Five subscribers: the finance team by job tag, a Slack webhook by job id, an
    address by job name, and two that must not hear job 123 (everything; another job)."""
    subscribe(sessions, "finance", "finance@example.com", job_tags={"team": "finance"})
    subscribe(sessions, "finance", http_receiver.url("/slack"), format="slack", jobs=["123"])
    subscribe(sessions, "by-name", "billing-owner@example.com", jobs=["billing-export"])
    subscribe(sessions, "everything", "all@example.com")
    subscribe(sessions, "other-job", "other@example.com", jobs=["456"], job_tags={"team": "*"})
    return http_receiver


def test_a_failed_job_run_reaches_the_subscriptions_naming_it_once(
    sessions: sessionmaker[Session], settings: Settings, subscribed: HTTPReceiver
) -> None:
    ids = record(sessions, settings, ended_run(), runs_get())
    assert record(sessions, settings, ended_run(), runs_get()) == []  # the same ending again
    made = deliveries(sessions)
    assert sorted(ids) == sorted(d.id for d in made)
    assert sorted((d.target, d.channel_name or "", d.format) for d in made) == [
        ("billing-owner@example.com", "by-name", "generic"),
        ("finance@example.com", "finance", "generic"),
        (subscribed.url("/slack"), "finance", "slack"),
    ]
    assert {(d.event_type, d.status, d.run_id, d.workflow_name) for d in made} == {
        ("run.failed", DeliveryStatus.PENDING, None, None)
    }


def test_the_payload_carries_the_job_the_run_and_the_failing_task(
    sessions: sessionmaker[Session], settings: Settings, subscribed: HTTPReceiver
) -> None:
    record(sessions, settings, ended_run(), runs_get())
    payload = deliveries(sessions)[0].payload
    assert payload["workflow"] == {"name": None, "tags": {}}
    assert payload["job"] == {
        "id": 123,
        "name": "billing-export",
        "tags": {"team": "finance"},
        "workspace": "default",
    }
    run = payload["run"]
    assert (run["databricks_run_id"], run["repair_id"], run["run_page_url"]) == (
        9001,
        None,
        RUN_PAGE,
    )
    assert (run["result_state"], run["life_cycle_state"], run["status"]) == (
        "FAILED",
        "TERMINATED",
        "failed",
    )
    assert run["state_message"].startswith("Task extract failed")
    assert (run["started_at"], run["ended_at"], run["duration_seconds"]) == (
        STARTED.isoformat(),
        ENDED.isoformat(),
        150.0,
    )
    assert run["parameters"] == {"day": "2026-03-01"}
    assert payload["failed_task_count"] == 1
    [failed] = payload["failed_tasks"]
    assert failed == {
        "task_key": "extract",
        "result_state": "FAILED",
        "error": ERROR,
        "state_message": None,
        "attempt_number": 1,
        "databricks_run_id": 9004,
        "started_at": (STARTED + timedelta(seconds=60)).isoformat(),
        "ended_at": (STARTED + timedelta(seconds=135)).isoformat(),
        "duration_seconds": 75.0,
    }
    # The same top-level shape as a workflow run's alert, plus the job.
    assert set(payload) == {
        "event_type",
        "occurred_at",
        "workflow",
        "job",
        "run",
        "trigger",
        "failed_task_count",
        "failed_tasks",
        "detail",
    }


def test_email_and_slack_name_the_job_and_the_failing_task(
    sessions: sessionmaker[Session],
    make_settings: Callable[..., Settings],
    subscribed: HTTPReceiver,
    smtp_server: SMTPFixture,
) -> None:
    settings = make_settings(
        smtp_host=smtp_server.host, smtp_port=smtp_server.port, alert_throttle_limit=0
    )
    for delivery_id in record(sessions, settings, ended_run(), runs_get()):
        assert deliver_alert(sessions, settings, delivery_id=delivery_id) == "delivered"

    mails = {tuple(m.rcpt_tos): m for m in smtp_server.messages}
    assert set(mails) == {("finance@example.com",), ("billing-owner@example.com",)}
    message = email.message_from_bytes(
        mails[("finance@example.com",)].content, policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == (
        "[Lockgate] FAILED: job billing-export run 9001 - extract: KeyError: 'invoice_id'"
    )
    assert message["X-Lockgate-Job-Id"] == "123"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "billing-export (job 123) in default" in text
    assert "extract [FAILED]" in text and "KeyError: 'invoice_id'" in text
    assert f"Open in Databricks: {RUN_PAGE}" in text
    assert "publish" not in text  # it failed once, then succeeded on its retry

    [slack] = [r for r in subscribed.requests if r.path == "/slack"]
    posted = json.loads(slack.body)
    assert posted["text"] == "FAILED: job billing-export run 9001 - extract: KeyError: 'invoice_id'"
    rendered = json.dumps(posted["blocks"])
    assert "billing-export (job 123) in default" in rendered
    assert "extract [FAILED]" in rendered and RUN_PAGE in rendered


def test_a_repair_is_a_new_ending_folded_into_the_alert_within_the_window(
    sessions: sessionmaker[Session], settings: Settings, subscribed: HTTPReceiver
) -> None:
    first = record(sessions, settings, ended_run(), runs_get())
    assert record(sessions, settings, ended_run(repair_id=77), runs_get()) == []
    made = deliveries(sessions)
    alerts = [d for d in made if d.status == DeliveryStatus.PENDING]
    repeats = [d for d in made if d.status == DeliveryStatus.SUPPRESSED]
    assert sorted(d.id for d in alerts) == sorted(first)
    assert len(repeats) == 3 and {d.folded_into_id for d in repeats} == set(first)
    assert {d.occurrences for d in alerts} == {2}


def test_lockgate_runs_one_time_runs_and_unnamed_jobs_alert_nobody(
    sessions: sessionmaker[Session], settings: Settings, subscribed: HTTPReceiver
) -> None:
    with sessions() as session:
        routes = job_alert_routes(session)
    # Only the subscriptions that name jobs or job tags are job routes.
    assert sorted(r.target for r in routes) == sorted(
        [
            "finance@example.com",
            subscribed.url("/slack"),
            "billing-owner@example.com",
            "other@example.com",
        ]
    )
    ours = ended_run(lockgate_run_id="run-abc")
    one_time = ended_run(job=None)
    stranger = ended_run(job=JobInfo(job_id=777, name="adhoc", tags={"team": "ml"}))
    for ended in (ours, one_time, stranger):
        assert not wants_job_run(routes, ended)
        assert record(sessions, settings, ended, runs_get()) == []
    assert deliveries(sessions) == []
    assert wants_job_run(routes, ended_run())
    # Job 456 is named by the "other-job" subscription (with any team tag).
    assert wants_job_run(routes, ended_run(job=JobInfo(456, "x", {"team": "ml"})))


def test_without_runs_get_the_alert_still_names_the_job_and_the_error(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    subscribe(sessions, "finance", "finance@example.com", job_tags={"team": "*"})
    [delivery_id] = record(sessions, settings, ended_run(), run=None)
    [delivery] = deliveries(sessions)
    assert delivery.id == delivery_id
    assert delivery.payload["failed_tasks"][0]["task_key"] == "extract"
    assert delivery.payload["failed_tasks"][0]["error"] == ERROR
    assert delivery.payload["run"]["duration_seconds"] == 150.0


def test_event_types_narrow_job_subscriptions(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    subscribe(sessions, "ok", "ok@example.com", jobs=["123"], event_types=["run.succeeded"])
    subscribe(sessions, "bad", "bad@example.com", jobs=["123"], event_types=["run.failed"])
    record(sessions, settings, ended_run(result_state="SUCCESS"), task_errors={})
    record(sessions, settings, ended_run(run_id=9100), task_errors={"extract": ERROR})
    assert sorted((d.target, d.event_type) for d in deliveries(sessions)) == [
        ("bad@example.com", "run.failed"),
        ("ok@example.com", "run.succeeded"),
    ]


@pytest.mark.parametrize(
    ("life_cycle", "result", "termination", "event_type"),
    [
        ("TERMINATED", "SUCCESS", "SUCCESS", "run.succeeded"),
        ("TERMINATED", "SUCCESS_WITH_FAILURES", "SUCCESS", "run.succeeded"),
        ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR", "run.failed"),
        ("TERMINATED", "TIMEDOUT", None, "run.timed_out"),
        ("TERMINATED", "CANCELED", "USER_CANCELED", "run.canceled"),
        ("TERMINATED", None, "USER_CANCELED", "run.canceled"),
        ("SKIPPED", None, None, "run.skipped"),
        ("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", None, "run.skipped"),
        ("TERMINATED", None, "SKIPPED", "run.skipped"),
        ("INTERNAL_ERROR", None, "DRIVER_ERROR", "run.failed"),
        ("TERMINATED", "UPSTREAM_FAILED", None, "run.failed"),
        ("UNKNOWN", None, None, "run.failed"),
    ],
)
def test_event_type_of_an_ending(
    life_cycle: str, result: str | None, termination: str | None, event_type: str
) -> None:
    ended = ended_run(
        life_cycle_state=life_cycle, result_state=result, termination_code=termination
    )
    assert job_event_type(ended) == event_type
