"""Webhook deliveries written as one batch (group commit): one transaction and one commit
for the lot, each delivery with its own verdict; a refused or faulty one never fails the
others, and nothing of a batch whose commit fails is reported as recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from service.store.repositories import workflows as workflows_repo
from service.triggers.group_commit import GroupCommitter
from service.triggers.hook_batch import DeliveryResult, commit_deliveries
from service.triggers.hook_delivery import DeliveryOutcome, DeliveryRefused, HookDelivery
from service.triggers.webhook import sign
from tests.triggers.conftest import Triggers

SECRET = "a-very-secret-hook-secret"


def _hook(triggers: Triggers, **options: Any) -> None:
    triggers.add_workflow("etl")
    with triggers.sessions.begin() as session:
        workflows_repo.create_hook(
            session,
            name="orders",
            workflow_name="etl",
            secret=SECRET,
            parameters={"d": "$.date"},
            **options,
        )


def _delivery(
    key: str | None,
    body: dict[str, Any] | None = None,
    *,
    secret: str = SECRET,
    hook: str = "orders",
) -> HookDelivery:
    raw = json.dumps(body if body is not None else {"date": "2026-11-25"}).encode()
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-lockgate-timestamp": ts,
        "x-lockgate-signature": sign(secret, ts, raw),
    }
    if key is not None:
        headers["idempotency-key"] = key
    return HookDelivery(hook, raw, 1_048_576, headers, {}, "application/json")


def _engine(triggers: Triggers) -> Engine:
    engine = triggers.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


@contextmanager
def _commits(engine: Engine) -> Iterator[list[int]]:
    """Counts the transactions committed on ``engine`` (savepoints are not commits)."""
    seen: list[int] = []

    def count(_connection: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", count)


def _commit(triggers: Triggers, deliveries: list[HookDelivery]) -> list[DeliveryResult]:
    return commit_deliveries(
        triggers.sessions, deliveries, settings=triggers.settings, sender=triggers.sender
    )


def test_one_batch_is_one_commit_and_each_delivery_keeps_its_own_verdict(
    triggers: Triggers,
) -> None:
    _hook(triggers, filters=[{"path": "$.action", "one_of": ["opened"]}])
    (earlier,) = _commit(triggers, [_delivery("seen-before", {"action": "opened", "date": "x"})])
    assert isinstance(earlier, DeliveryOutcome) and earlier.accepted[0].created
    batch = [
        _delivery("a1", {"action": "opened", "date": "2026-11-25"}),
        _delivery("a1", {"action": "opened", "date": "2026-11-25"}),  # same batch, same key
        _delivery("seen-before", {"action": "opened", "date": "x"}),  # an earlier batch's key
        _delivery("bad", {"action": "opened"}, secret="not-the-secret-at-all"),
        _delivery("closed", {"action": "closed", "date": "y"}),  # the filter drops it
        _delivery("nodate", {"action": "opened"}),  # $.date is missing: 422
        _delivery("elsewhere", hook="no-such-hook"),
        _delivery("a2", {"action": "opened", "date": "2026-11-26"}),
    ]
    with _commits(_engine(triggers)) as commits:
        results = _commit(triggers, batch)
    assert len(commits) == 1

    first, again, replay, bad, closed, nodate, elsewhere, second = results
    assert isinstance(first, DeliveryOutcome) and first.body()["verdict"] == "accepted"
    assert isinstance(again, DeliveryOutcome) and again.duplicate
    assert again.body()["event_id"] == first.body()["event_id"]
    assert isinstance(replay, DeliveryOutcome) and replay.duplicate
    assert replay.body()["event_id"] == earlier.body()["event_id"]
    assert isinstance(bad, DeliveryRefused) and bad.status == 401 and bad.recorded
    assert isinstance(closed, DeliveryOutcome) and closed.verdict == "filtered"
    assert isinstance(nodate, DeliveryRefused) and nodate.status == 422
    assert isinstance(elsewhere, DeliveryRefused) and elsewhere.status == 404
    assert not elsewhere.recorded  # an unknown hook leaves no ledger row
    assert isinstance(second, DeliveryOutcome) and not second.duplicate
    assert second.accepted[0].event_id != first.accepted[0].event_id

    rows = {e.id: e for e in triggers.events("webhook")}
    accepted = [e for e in rows.values() if e.status != "ignored"]
    assert sorted(e.dedupe_key for e in accepted) == ["key:a1", "key:a2", "key:seen-before"]
    assert rows[second.accepted[0].event_id].parameters == {"d": "2026-11-26"}
    duplicates = [e for e in rows.values() if e.verdict == "duplicate"]
    assert {e.duplicate_of_id for e in duplicates} == {
        first.accepted[0].event_id,
        earlier.accepted[0].event_id,
    }
    assert rows[closed.ledger_id or ""].verdict == "filtered"
    rejected = [e for e in rows.values() if e.verdict == "rejected"]
    assert len(rejected) == 2 and all("date" not in e.payload for e in rejected)
    # Announced after the commit, one message per event created: the earlier one, a1, a2.
    assert triggers.queued_messages() == 3


def test_racing_writers_record_one_event_per_delivery_id(triggers: Triggers) -> None:
    """Two writers (two API processes) take the same delivery ids at once: each id is
    one event and every other copy a duplicate naming it, whichever writer won."""
    _hook(triggers)
    keys = [f"race-{n}" for n in range(40)]

    def one_writer(_: int) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        for start in range(0, len(keys), 8):
            results += _commit(triggers, [_delivery(k) for k in keys[start : start + 8]])
        return results

    with ThreadPoolExecutor(2) as pool:
        left, right = pool.map(one_writer, range(2))
    for a, b in zip(left, right, strict=True):
        assert isinstance(a, DeliveryOutcome) and isinstance(b, DeliveryOutcome)
        assert a.accepted[0].event_id == b.accepted[0].event_id
        assert a.duplicate != b.duplicate
    assert len(triggers.accepted("webhook")) == len(keys)
    assert triggers.queued_messages() == len(keys)


def test_waiting_deliveries_are_taken_as_one_batch() -> None:
    batches: list[list[int]] = []
    first_taken, release = threading.Event(), threading.Event()

    def commit_batch(items: list[int]) -> list[int | Exception]:
        batches.append(list(items))
        first_taken.set()
        release.wait(5)
        return [ValueError(n) if n == 3 else n * 10 for n in items]

    writer: GroupCommitter[int, int] = GroupCommitter(commit_batch, name="test-writer")
    try:
        futures = [writer.submit(0)]
        assert first_taken.wait(5)
        futures += [writer.submit(n) for n in range(1, 6)]  # wait while batch 0 commits
        release.set()
        assert [f.result(5) for f in futures if f is not futures[3]] == [0, 10, 20, 40, 50]
        with pytest.raises(ValueError):
            futures[3].result(5)  # its own failure, no one else's
    finally:
        writer.close()
    assert batches == [[0], [1, 2, 3, 4, 5]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_nothing_of_a_batch_whose_commit_fails_is_acknowledged(triggers: Triggers) -> None:
    """The store refuses the batch's writes (SQLite held at its page limit, as on a full
    disk; SQLite then rolls the whole transaction back): every delivery in it hears the
    failure, none gets an event id, none is kept, nothing is announced."""
    _hook(triggers)
    (before,) = _commit(triggers, [_delivery("before")])
    assert isinstance(before, DeliveryOutcome)
    engine = _engine(triggers)
    engine.dispose()

    def fill_up(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", fill_up)
    writer: GroupCommitter[HookDelivery, DeliveryResult] = GroupCommitter(
        lambda batch: _commit(triggers, list(batch)), name="test-hook-writer"
    )
    try:
        big = {"date": "2026-11-25", "padding": "x" * 4000}
        futures = [writer.submit(_delivery(f"full-{n}", big)) for n in range(20)]
        for future in futures:
            with pytest.raises(OperationalError):
                future.result(10)
    finally:
        writer.close()
        event.remove(engine, "connect", fill_up)
        engine.dispose()
    assert [e.dedupe_key for e in triggers.events("webhook")] == ["key:before"]
    assert triggers.queued_messages() == 1
