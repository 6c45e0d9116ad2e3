"""A batch of webhook deliveries written in one transaction: the group commit's work.

Each delivery keeps its own verdict. The batch reads every hook and target workflow it
names once, checks each delivery on its own (a bad signature or body refuses that one
alone), looks every dedupe key up in one query and inserts every ledger row in one
statement. Dedupe holds inside a batch as across batches: a later copy of a key, in the
same batch or another, becomes a ``duplicate`` row naming the first event.

Who commits: ``commit_deliveries`` opens the transaction, commits it once, and only then
announces what it accepted, in one Redis round trip (the sweeper re-sends whatever a
lost message leaves behind). It raises only when nothing was committed.

What "durable" means for an acknowledgement: on PostgreSQL, the server's commit (WAL
flushed, the default ``synchronous_commit``). On SQLite in WAL mode every commit
survives the process dying at any point; with ``webhook_commit_fsync`` (the default) the
ingress connection also waits for the WAL to reach the disk (``synchronous=FULL``), so
an acknowledged delivery survives an OS crash or power loss too. Other writers keep
``synchronous=NORMAL``. One fsync per batch, not per delivery, is what makes that cheap.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.runs.queue import (
    DELIVER_ALERT,
    TaskMessage,
    TaskSender,
    dispatch_messages,
    send_all,
)
from service.settings import Settings
from service.store.models import EventStatus, Hook, Workflow, new_id, utcnow
from service.store.repositories import events as events_repo
from service.triggers.hook_delivery import (
    SOURCE,
    CheckedDelivery,
    DeliveryOutcome,
    DeliveryRefused,
    HookDelivery,
    Target,
    check_delivery,
    hook_targets,
    record_checked,
    record_refused,
)
from service.triggers.ledger import AcceptedTrigger, Verdict

log = logging.getLogger(__name__)

# A delivery's own result: its outcome, or the exception its request answers with
# (DeliveryRefused for a refusal, anything else for a fault in that delivery alone).
DeliveryResult = DeliveryOutcome | Exception


@dataclass(frozen=True)
class _Checked:
    index: int
    hook: Hook
    targets: list[Target]
    checked: CheckedDelivery


def commit_deliveries(
    sessions: sessionmaker[Session],
    deliveries: Sequence[HookDelivery],
    *,
    settings: Settings,
    sender: TaskSender,
) -> list[DeliveryResult]:
    """Records ``deliveries`` in one transaction, commits once, then announces."""
    with _ingress_session(sessions, fsync=settings.webhook_commit_fsync) as session:
        results = record_deliveries(session, deliveries, settings)
        session.commit()
    announce_results(sender, results)
    return results


def record_deliveries(
    session: Session, deliveries: Sequence[HookDelivery], settings: Settings
) -> list[DeliveryResult]:
    """Every delivery's ledger rows, in the caller's transaction (not committed)."""
    now = time.time()
    hooks = _hooks_by_name(session, {d.hook_name for d in deliveries})
    known_targets = _targets_by_name(session, {t for h in hooks.values() for t in h.targets})
    results: list[DeliveryResult | None] = [None] * len(deliveries)
    checked: list[_Checked] = []
    refused: list[tuple[int, Hook, list[Target], DeliveryRefused]] = []
    for index, delivery in enumerate(deliveries):
        hook = hooks.get(delivery.hook_name)
        try:
            targets = hook_targets(hook, delivery.hook_name, known_targets)
        except DeliveryRefused as exc:
            results[index] = exc
            continue
        assert hook is not None  # hook_targets refuses a missing hook
        try:
            found = check_delivery(hook, delivery, settings, now=now)
        except DeliveryRefused as exc:
            refused.append((index, hook, targets, exc))
            continue
        except Exception as exc:
            log.exception("a delivery to hook %s could not be checked", hook.name)
            results[index] = exc
            continue
        checked.append(_Checked(index, hook, targets, found))
    for index, result in _record_checked_batch(session, checked):
        results[index] = result
    for index, hook, targets, refusal in refused:
        results[index] = _record_refusal(
            session, hook, targets, deliveries[index], refusal, settings
        )
    return [r if r is not None else RuntimeError("delivery not recorded") for r in results]


def announce_results(sender: TaskSender, results: Sequence[DeliveryResult]) -> None:
    """Call only after the commit: a message must never outrun its row. Never raises."""
    created: list[str] = []
    messages: list[TaskMessage] = []
    for result in results:
        if isinstance(result, DeliveryOutcome):
            recorded: Sequence[AcceptedTrigger] = result.accepted
        elif isinstance(result, DeliveryRefused):
            recorded = result.recorded
        else:
            continue
        for accepted in recorded:
            if accepted.created:
                created.append(accepted.event_id)
            messages.extend((DELIVER_ALERT, (alert_id,)) for alert_id in accepted.alert_ids)
    if created:
        messages[:0] = dispatch_messages(created)
    try:
        send_all(sender, messages)
    except Exception:
        log.warning(
            "could not announce %d messages; the sweeper will", len(messages), exc_info=True
        )


def _record_checked_batch(
    session: Session, checked: Sequence[_Checked]
) -> list[tuple[int, DeliveryResult]]:
    """One lookup for every key, one insert for every row."""
    if not checked:
        return []
    keys = [
        (c.hook.name, c.checked.dedupe_key, workflow.id)
        for c in checked
        if c.checked.unmet_filter is None
        for workflow in c.targets
    ]
    first_events = events_repo.accepted_event_ids(session, source=SOURCE, keys=keys)
    # Rows a microsecond apart: the ledger (ordered by received_at) lists the batch in
    # the order its deliveries arrived.
    received_at = utcnow()
    rows: list[dict[str, Any]] = []
    outcomes: list[tuple[int, DeliveryResult]] = []
    for c in checked:
        if c.checked.unmet_filter is not None:
            row = _row(
                received_at + timedelta(microseconds=len(rows)),
                c.hook.name,
                c.targets[0].id,
                c.checked,
                verdict=Verdict.FILTERED,
                reason=c.checked.unmet_filter,
            )
            rows.append(row)
            outcome = DeliveryOutcome(
                verdict="filtered", reason=c.checked.unmet_filter, ledger_id=row["id"]
            )
            outcomes.append((c.index, outcome))
            continue
        outcome = DeliveryOutcome()
        for workflow in c.targets:
            key = (c.hook.name, c.checked.dedupe_key, workflow.id)
            at = received_at + timedelta(microseconds=len(rows))
            first = first_events.get(key)
            if first is None:
                row = _row(at, c.hook.name, workflow.id, c.checked)
                first_events[key] = row["id"]
                outcome.accepted.append(AcceptedTrigger(row["id"], True, ledger_id=row["id"]))
            else:
                row = _row(
                    at,
                    c.hook.name,
                    workflow.id,
                    c.checked,
                    verdict=Verdict.DUPLICATE,
                    reason=f"the same delivery was accepted as event {first}",
                    duplicate_of_id=first,
                )
                outcome.accepted.append(AcceptedTrigger(first, False, ledger_id=row["id"]))
            rows.append(row)
        outcomes.append((c.index, outcome))
    try:
        with session.begin_nested():
            events_repo.insert_events(session, rows=rows)
    except IntegrityError:
        # A concurrent writer took one of the keys since the lookup (an API replica on
        # PostgreSQL; on SQLite BEGIN IMMEDIATE shuts other writers out): write each
        # delivery on its own, which reads the winner's row where a key was taken.
        return [(c.index, _record_one(session, c)) for c in checked]
    return outcomes


def _row(
    received_at: datetime,
    hook_name: str,
    workflow_id: str,
    checked: CheckedDelivery,
    *,
    verdict: str | None = None,
    reason: str | None = None,
    duplicate_of_id: str | None = None,
) -> dict[str, Any]:
    """A trigger_events row: an accepted event, or (with a verdict) a ledger-only row
    kept out of dispatch, the sweeper and the uniqueness rule by its status."""
    return {
        "id": new_id(),
        "received_at": received_at,
        "source": SOURCE,
        "source_name": hook_name,
        "dedupe_key": checked.dedupe_key[:200],
        "workflow_id": workflow_id,
        "payload": checked.payload,
        "parameters": {} if verdict == Verdict.FILTERED else checked.parameters,
        "status": EventStatus.RECEIVED if verdict is None else EventStatus.IGNORED,
        "verdict": verdict,
        "verdict_reason": reason,
        "duplicate_of_id": duplicate_of_id,
    }


def _record_one(session: Session, c: _Checked) -> DeliveryResult:
    try:
        with session.begin_nested():
            return record_checked(session, c.hook, c.targets, c.checked)
    except Exception as exc:
        log.exception("a delivery to hook %s could not be recorded", c.hook.name)
        return exc


def _record_refusal(
    session: Session,
    hook: Hook,
    targets: list[Target],
    delivery: HookDelivery,
    refusal: DeliveryRefused,
    settings: Settings,
) -> Exception:
    try:
        with session.begin_nested():
            return record_refused(session, hook, targets, delivery, refusal, settings)
    except Exception as exc:
        log.exception("a refused delivery to hook %s could not be recorded", hook.name)
        return exc


def _hooks_by_name(session: Session, names: set[str]) -> dict[str, Hook]:
    return {h.name: h for h in session.scalars(select(Hook).where(Hook.name.in_(names)))}


def _targets_by_name(session: Session, names: set[str]) -> dict[str, Target]:
    """Ids and names only: a workflow's definition can be large, and is not needed."""
    if not names:
        return {}
    query = select(Workflow.id, Workflow.name).where(Workflow.name.in_(names))
    return {name: Target(id, name) for id, name in session.execute(query)}


@contextmanager
def _ingress_session(sessions: sessionmaker[Session], *, fsync: bool) -> Iterator[Session]:
    """A session for one batch. On a SQLite file it runs on a connection of its own
    while this process holds the ingress lock (``_writers_turn``), and with ``fsync``
    that connection commits with ``synchronous=FULL``."""
    engine = sessions.kw.get("bind")
    on_file = (
        isinstance(engine, Engine)
        and engine.dialect.name == "sqlite"
        and engine.url.database not in (None, "", ":memory:")
    )
    if not on_file:
        with sessions() as session:
            yield session
        return
    assert isinstance(engine, Engine) and engine.url.database
    with (
        _writers_turn(Path(engine.url.database)),
        engine.connect() as connection,
        _full_sync(connection) if fsync else nullcontext(),
        sessions(bind=connection) as session,
    ):
        yield session


@contextmanager
def _writers_turn(database: Path) -> Iterator[None]:
    """The ledger writers of several API processes on one SQLite file take turns on a
    file lock beside it. SQLite itself lets a refused writer poll, sleeping 1, 2, 5 ...
    up to 100 ms between tries; a file lock hands over the moment it is released (two
    API processes: ack p99 ~100-160 ms without it, ~30 ms with it)."""
    with (database.parent / f"{database.name}.ingress-lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


@contextmanager
def _full_sync(connection: Connection) -> Iterator[None]:
    """``synchronous=FULL`` on this pooled connection for one transaction: SQLite takes
    the setting only outside a transaction, so it is set before BEGIN and put back after."""
    raw = connection.connection.driver_connection
    assert raw is not None
    previous = raw.execute("PRAGMA synchronous").fetchone()[0]
    raw.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        try:
            raw.execute(f"PRAGMA synchronous={int(previous)}")
        except Exception:
            # Never hand a connection in an unknown state back to the pool.
            log.warning("could not restore synchronous; dropping the connection")
            connection.invalidate()
