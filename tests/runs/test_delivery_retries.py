"""Delivery rows against real receivers: retried with backoff (Retry-After honoured),
dead-lettered after N attempts, every attempt in the history, each alert arriving once.

Time is a fake clock handed to ``deliver_alert``: a retry is "due" when the clock passes
the row's ``next_attempt_at``, as the sweeper would find it; nothing sleeps for backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from service.runs.delivery import deliver_alert
from service.settings import Settings
from service.store.models import DeliveryStatus, utcnow
from service.store.models.alerting import AlertChannel, AlertSubscription
from service.store.repositories import alerts as alerts_repo
from tests.factories import make_settings
from tests.servers import SmtpInbox, free_port


class Clock:
    def __init__(self) -> None:
        # Ahead of the rows the test creates next (they are due from the real "now").
        self.now = utcnow() + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def scripted_receiver(script: Sequence[tuple[int, dict[str, str], float]]) -> Iterator[Any]:
    """Answers POSTs from ``script`` in order (status, headers, delay), then 204."""
    received: list[bytes] = []
    answers = list(script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            status, headers, delay = answers.pop(0) if answers else (204, {}, 0.0)
            time.sleep(delay)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up waiting: that is the point of a hang

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "alert_backoff_seconds": 5.0,
        "alert_max_attempts": 4,
        "alert_timeout_seconds": 0.5,
        "alert_egress_allowed_networks": ["127.0.0.0/8"],
        "smtp_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def add(sessions: sessionmaker[Session], channel: str, target: str, key: str) -> str:
    with sessions.begin() as session:
        delivery = alerts_repo.insert_delivery(
            session,
            run_id=None,
            event_type="run.failed",
            channel=channel,
            target=target,
            payload={"event_type": "run.failed", "workflow": {"name": "etl"}},
            dedupe_key=key,
            workflow_name="etl",
        )
        assert delivery is not None
        return delivery.id


def history(sessions: sessionmaker[Session], delivery_id: str) -> list[tuple[str, int | None]]:
    with sessions() as session:
        return [
            (a.outcome, a.status_code)
            for a in alerts_repo.list_attempts(session, delivery_id=delivery_id)
        ]


def row(sessions: sessionmaker[Session], delivery_id: str) -> Any:
    with sessions() as session:
        return alerts_repo.get_delivery(session, delivery_id=delivery_id)


def test_500_then_200_is_retried_after_retry_after_then_delivered(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    clock = Clock()
    with scripted_receiver([(500, {"Retry-After": "120"}, 0.0)]) as (url, received):
        delivery_id = add(sessions, "webhook", url, "k-500")
        status = deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock)
        assert status == DeliveryStatus.PENDING
        # The receiver asked for 120 s, more than the 5 s backoff: not due before that.
        assert row(sessions, delivery_id).next_attempt_at >= clock.now + timedelta(seconds=120)
        clock.advance(60)
        assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "pending"
        assert len(received) == 1
        clock.advance(61)
        status = deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock)
    assert status == DeliveryStatus.DELIVERED
    assert len(received) == 2 and received[0] == received[1]
    assert history(sessions, delivery_id) == [("retry", 500), ("delivered", None)]


def test_a_hanging_receiver_times_out_then_is_retried(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, alert_timeout_seconds=0.3)
    clock = Clock()
    with scripted_receiver([(204, {}, 1.5)]) as (url, _received):
        delivery_id = add(sessions, "webhook", url, "k-hang")
        started = time.monotonic()
        assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "pending"
        assert time.monotonic() - started < 1.4  # gave up at the timeout, not the answer
        clock.advance(3600)
        assert (
            deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "delivered"
        )
    assert [outcome for outcome, _ in history(sessions, delivery_id)] == ["retry", "delivered"]
    assert "ReadTimeout" in (history_errors(sessions, delivery_id)[0] or "")


def history_errors(sessions: sessionmaker[Session], delivery_id: str) -> list[str | None]:
    with sessions() as session:
        return [a.error for a in alerts_repo.list_attempts(session, delivery_id=delivery_id)]


def test_dead_lettered_after_max_attempts_and_a_4xx_at_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, alert_max_attempts=3)
    clock = Clock()
    with scripted_receiver([(503, {}, 0.0)] * 5 + [(404, {}, 0.0)]) as (url, received):
        delivery_id = add(sessions, "webhook", url, "k-dead")
        statuses = []
        for _ in range(4):
            statuses.append(deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock))
            clock.advance(3600)
        assert statuses == ["pending", "pending", "dead", "dead"]
        assert len(received) == 3  # a dead row is never sent again by the sweep
        assert [o for o, _ in history(sessions, delivery_id)] == ["retry", "retry", "dead"]
        # A permanent answer is not retried.
        with sessions.begin() as session:
            delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
            assert delivery is not None
            alerts_repo.requeue_delivery(session, delivery=delivery, now=clock.now)
        script_left = 3  # two 503s and the 404 remain
        for _ in range(script_left):
            status = deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock)
            clock.advance(3600)
    assert status == "dead"
    assert history(sessions, delivery_id)[-1] == ("dead", 404)


def test_a_404_on_the_first_attempt_is_dead_lettered_at_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, alert_max_attempts=5)
    clock = Clock()
    with scripted_receiver([(404, {}, 0.0)]) as (url, received):
        delivery_id = add(sessions, "webhook", url, "k-404")
        assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "dead"
        # Later sweeps and duplicate messages find it dead and send nothing.
        clock.advance(3600)
        assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "dead"
    assert len(received) == 1
    assert history(sessions, delivery_id) == [("dead", 404)]
    assert row(sessions, delivery_id).status == DeliveryStatus.DEAD


def test_smtp_down_for_a_while_then_up_every_alert_arrives_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    clock = Clock()
    targets = [f"person{i}@example.com" for i in range(3)]
    ids = [add(sessions, "email", t, f"k-mail-{i}") for i, t in enumerate(targets)]
    for _ in range(2):  # down: refused, twice
        assert [deliver_alert(sessions, settings, delivery_id=i, clock=clock) for i in ids] == [
            "pending"
        ] * 3
        clock.advance(3600)
    inbox = SmtpInbox(host="127.0.0.1", port=port)
    controller = Controller(inbox, hostname=inbox.host, port=port)
    controller.start()
    try:
        assert [deliver_alert(sessions, settings, delivery_id=i, clock=clock) for i in ids] == [
            "delivered"
        ] * 3
        # Duplicate messages and later sweeps find the rows delivered and send nothing.
        clock.advance(3600)
        for delivery_id in ids + ids:
            assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == (
                "delivered"
            )
    finally:
        controller.stop()
    assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == targets
    for delivery_id in ids:
        assert [o for o, _ in history(sessions, delivery_id)] == ["retry", "retry", "delivered"]


@pytest.fixture
def database_url(store_url: str) -> str:
    """Delivery is not database-specific (the repositories are tested on both)."""
    return store_url


def test_an_alert_waiting_for_a_retry_is_not_sent_after_its_subscription_is_removed(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    clock = Clock()
    with sessions.begin() as session:
        channel = AlertChannel(name="oncall")
        subscription = AlertSubscription(kind="webhook", target="x", channel=channel)
        session.add_all([channel, subscription])
        session.flush()
        subscription_id = subscription.id
    with scripted_receiver([(503, {}, 0.0), (200, {}, 0.0)]) as (url, received):
        with sessions.begin() as session:
            delivery = alerts_repo.insert_delivery(
                session,
                run_id=None,
                event_type="run.failed",
                channel="webhook",
                target=url,
                payload={"event_type": "run.failed", "workflow": {"name": "etl"}},
                dedupe_key="k-unsubscribed",
                workflow_name="etl",
                subscription_id=subscription_id,
            )
            assert delivery is not None
            delivery_id = delivery.id
        assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "pending"
        with sessions.begin() as session:  # the person unsubscribes meanwhile
            session.delete(session.get(AlertSubscription, subscription_id))
        clock.advance(3600)
        assert deliver_alert(sessions, settings, delivery_id=delivery_id, clock=clock) == "dead"
    assert len(received) == 1  # only the first, failed attempt reached the receiver
    assert "unsubscribed" in row(sessions, delivery_id).last_error
