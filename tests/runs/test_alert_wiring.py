"""The run engine's alert wiring: what a watched run's states make, through the recorder.

A Jobs API stand-in over HTTP answers ``runs/get`` and ``runs/get-output`` with the
states a test sets; ``record_hinted_run`` reads them as a notification hint would (one
``runs/get``) and records them as a sweep does, so each change goes through the same
``_Recorder`` -> ``conclude_attempt`` -> ``finishing`` path as in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.databricks import DatabricksClient, PatAuth
from service.runs.watching import PollReport, record_hinted_run
from service.runs.workspaces import WorkspaceClients
from service.settings import Settings
from service.store.models import AlertDelivery, DeliveryStatus, Run, RunStatus, utcnow
from service.store.repositories import alert_channels as channels_repo
from service.store.repositories import alerts as alerts_repo
from service.store.repositories import events as events_repo
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo
from tests.factories import make_settings
from tests.servers import serve_handler


@dataclass
class JobsStandIn:
    """runs/get and runs/get-output answers by Databricks run id, set by the test."""

    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # task run id -> get-output error

    def set(self, run_id: int, life_cycle: str, result: str | None = None) -> None:
        state = {"life_cycle_state": life_cycle, "state_message": ""}
        if result is not None:
            state["result_state"] = result
        start = int(utcnow().timestamp() * 1000) - 60_000
        end = start + 30_000 if result is not None else 0
        task = {
            "run_id": run_id * 10,
            "task_key": "load",
            "attempt_number": 0,
            "state": state,
            "start_time": start,
            "end_time": end,
        }
        self.runs[run_id] = {
            "run_id": run_id,
            "job_id": 1,
            "state": state,
            "start_time": start,
            "end_time": end,
            "tasks": [task],
        }
        if result in ("FAILED", "TIMEDOUT"):
            self.errors[run_id * 10] = f"ValueError: attempt ending as run {run_id}"


def _handler(stand_in: JobsStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            run_id = int(parse_qs(url.query).get("run_id", ["0"])[0])
            body: dict[str, Any] | None = None
            if url.path.endswith("/jobs/runs/get"):
                body = stand_in.runs.get(run_id)
            elif url.path.endswith("/jobs/runs/get-output") and run_id in stand_in.errors:
                body = {"error": stand_in.errors[run_id]}
            status = 200 if body is not None else 404
            if body is None:
                body = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such run"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass
class Engine:
    sessions: sessionmaker[Session]
    stand_in: JobsStandIn
    clients: WorkspaceClients
    settings: Settings

    def record(self, databricks_run_id: int) -> PollReport:
        return record_hinted_run(
            self.sessions,
            self.clients,
            workspace="default",
            databricks_run_id=databricks_run_id,
            settings=self.settings,
        )


@pytest.fixture
def engine(sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[Engine]:
    stand_in = JobsStandIn()
    # Dedupe and throttle off: each event must make its own row, so the wiring shows.
    settings = make_settings(
        tmp_path,
        public_url="https://lockgate.example.com",
        alert_dedupe_window_seconds=0,
        alert_throttle_limit=0,
    )
    with serve_handler(_handler(stand_in)) as url:
        client = DatabricksClient(url, PatAuth("test"))
        yield Engine(sessions, stand_in, WorkspaceClients.single(client), settings)
        client.close()


def workflow(sessions: sessionmaker[Session], name: str, max_attempts: int) -> str:
    source = {
        "name": name,
        "notifications": {"on_start": ["start@example.com"], "on_failure": ["owner@example.com"]},
        "tasks": [{"task_key": "load", "type": "notebook", "notebook_path": "/x"}],
        "lockgate": {"retry": {"max_attempts": max_attempts, "initial_backoff_seconds": 0}},
    }
    with sessions.begin() as session:
        return workflows_repo.create_workflow(session, name=name, source=source).id


def subscribe(sessions: sessionmaker[Session], subscriptions: dict[str, list[str]]) -> None:
    with sessions.begin() as session:
        channel = channels_repo.create_channel(session, name="ops", description=None)
        for target, event_types in subscriptions.items():
            channels_repo.add_subscription(
                session,
                channel=channel,
                kind="email",
                target=target,
                format="generic",
                event_types=event_types,
                workflows=[],
                workflow_tags={},
            )


def watched_run(sessions: sessionmaker[Session], workflow_id: str, databricks_run_id: int) -> str:
    """A run Databricks accepted (as the submitter leaves it): pending, with its run id."""
    with sessions.begin() as session:
        event, _ = events_repo.record_event(
            session,
            source="manual",
            source_name="test",
            dedupe_key=f"e{databricks_run_id}",
            workflow_id=workflow_id,
            payload={},
            parameters={},
        )
        run = runs_repo.create_run(
            session,
            workflow_id=workflow_id,
            trigger_event_id=event.id,
            parameters={},
            status=RunStatus.PENDING,
        )
        run.databricks_run_id = databricks_run_id
        run.submitted_at = utcnow()
        return run.id


def told(sessions: sessionmaker[Session]) -> dict[str, list[AlertDelivery]]:
    """Deliveries to send (not folded repeats), by target, oldest first."""
    with sessions() as session:
        rows = alerts_repo.list_recent_deliveries(session, limit=200)[::-1]
    by_target: dict[str, list[AlertDelivery]] = {}
    for row in rows:
        if row.status != DeliveryStatus.SUPPRESSED:
            by_target.setdefault(row.target, []).append(row)
    return by_target


def events_by_target(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    return {target: [d.event_type for d in rows] for target, rows in told(sessions).items()}


def test_a_run_seen_running_announces_its_start_once(engine: Engine) -> None:
    workflow_id = workflow(engine.sessions, "starts", max_attempts=1)
    subscribe(engine.sessions, {"starts@example.com": ["run.started"]})
    watched_run(engine.sessions, workflow_id, 301)
    engine.stand_in.set(301, "PENDING")
    assert engine.record(301).alert_delivery_ids == []  # accepted, not started yet
    engine.stand_in.set(301, "RUNNING")
    report = engine.record(301)
    again = engine.record(301)  # seen running again: nothing new
    assert len(report.alert_delivery_ids) == 2 and again.alert_delivery_ids == []
    assert events_by_target(engine.sessions) == {
        "start@example.com": ["run.started"],  # the seed's notifications.on_start
        "starts@example.com": ["run.started"],
    }
    [start] = told(engine.sessions)["start@example.com"]
    assert start.payload["run"]["result_state"] == "RUNNING"


def test_a_retried_run_that_gives_up_is_retrying_then_one_final_alert(engine: Engine) -> None:
    workflow_id = workflow(engine.sessions, "flaky", max_attempts=2)
    subscribe(
        engine.sessions,
        {
            "all@example.com": [],
            "retries@example.com": ["run.retrying"],
            "exhausted@example.com": ["run.retries_exhausted"],
        },
    )
    run_id = watched_run(engine.sessions, workflow_id, 101)
    engine.stand_in.set(101, "RUNNING")
    engine.record(101)
    engine.stand_in.set(101, "TERMINATED", "FAILED")
    retrying = engine.record(101)
    with engine.sessions() as session:
        run = session.get(Run, run_id)
        assert run is not None and (run.status, run.attempt) == (RunStatus.RETRYING, 2)
    assert retrying.submit_run_ids == [run_id]  # due now: backoff 0
    # The submitter sends attempt 2 (its own tests cover that): Databricks run 102.
    with engine.sessions.begin() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status, run.databricks_run_id, run.submitted_at = RunStatus.PENDING, 102, utcnow()
    engine.stand_in.set(102, "RUNNING")
    engine.record(102)
    engine.stand_in.set(102, "TERMINATED", "FAILED")
    final = engine.record(102)

    assert events_by_target(engine.sessions) == {
        "start@example.com": ["run.started", "run.started"],  # once per attempt
        "all@example.com": ["run.started", "run.retrying", "run.started", "run.failed"],
        "retries@example.com": ["run.retrying"],
        # The final failure, once: its payload says the retries ran out ...
        "owner@example.com": ["run.failed"],
        # ... and only a target that does not hear failures is told that separately.
        "exhausted@example.com": ["run.retries_exhausted"],
    }
    rows = told(engine.sessions)
    [retry] = rows["retries@example.com"]
    assert retry.payload["detail"]["next_attempt"] == 2
    assert retry.payload["detail"]["max_attempts"] == 2
    assert retry.payload["failed_tasks"][0]["error"] == "ValueError: attempt ending as run 101"
    [failure] = rows["owner@example.com"]
    assert failure.payload["run"]["attempt"] == 2
    assert failure.payload["detail"] == {
        "attempts": 2,
        "retries_exhausted": "FAILED after 2 of 2 attempts",
    }
    assert failure.payload["failed_tasks"][0]["error"] == "ValueError: attempt ending as run 102"
    final_ids = {rows[t][-1].id for t in ("all@example.com", "owner@example.com")}
    assert final_ids | {rows["exhausted@example.com"][0].id} == set(final.alert_delivery_ids)


def test_a_run_databricks_timed_out_makes_run_timed_out(engine: Engine) -> None:
    workflow_id = workflow(engine.sessions, "slow", max_attempts=1)
    subscribe(engine.sessions, {"timeouts@example.com": ["run.timed_out"]})
    run_id = watched_run(engine.sessions, workflow_id, 201)
    engine.stand_in.set(201, "TERMINATED", "TIMEDOUT")
    report = engine.record(201)
    assert report.ended_run_ids == [run_id]
    assert events_by_target(engine.sessions) == {
        "owner@example.com": ["run.timed_out"],
        "timeouts@example.com": ["run.timed_out"],
    }
    [alert] = told(engine.sessions)["timeouts@example.com"]
    assert alert.payload["run"]["result_state"] == "TIMEDOUT"
    assert alert.id in report.alert_delivery_ids
