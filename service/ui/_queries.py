"""Reads the console's lists need that the API's repositories do not offer: runs
filtered by trigger source and time range, keyset-paged both ways, and the last runs of
many workflows in one query.

Paging is keyset on (requested_at, id), newest first, the id breaking ties, exactly as
``runs_repo.list_runs`` pages: each page is one index range (``ix_runs_requested_at_id``,
or ``ix_runs_workflow_id_requested_at_id`` for one workflow), so the last page of
100,000 runs costs what the first does. No OFFSET anywhere.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from service.store.models import Run, TriggerEvent, Workflow
from service.ui._errors import UiError

Cursor = tuple[datetime, str]


def encode_cursor(at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(token: str, *, field: str = "before") -> Cursor:
    try:
        at, _, row_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise UiError(400, "Bad page link", f"{field}: not a page link this console made") from exc
    if moment.tzinfo is None or not row_id:
        raise UiError(400, "Bad page link", f"{field}: not a page link this console made")
    return moment, row_id


@dataclass(frozen=True)
class RunFilter:
    workflow: str | None = None
    status: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query_params(self) -> dict[str, str]:
        values = {
            "workflow": self.workflow,
            "status": self.status,
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class RunRow:
    run: Run
    workflow: str | None
    source: str
    source_name: str


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    older: str | None  # cursor for the next older page
    newer: str | None  # cursor for the next newer page


def _filtered(session: Session, where: RunFilter) -> Select[Run, str, str] | None:
    query = select(Run, TriggerEvent.source, TriggerEvent.source_name).join(
        TriggerEvent, TriggerEvent.id == Run.trigger_event_id
    )
    if where.workflow:
        workflow_id = session.scalar(select(Workflow.id).where(Workflow.name == where.workflow))
        if workflow_id is None:
            return None
        query = query.where(Run.workflow_id == workflow_id)
    if where.status:
        query = query.where(Run.status == where.status)
    if where.source:
        query = query.where(TriggerEvent.source == where.source)
    if where.since:
        query = query.where(Run.requested_at >= where.since)
    if where.until:
        query = query.where(Run.requested_at < where.until)
    return query


def run_page(
    session: Session,
    *,
    where: RunFilter,
    before: Cursor | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> RunPage:
    """One page of runs, newest first: older than ``before``, or newer than ``after``
    (the page just above the one showing), or the newest."""
    query = _filtered(session, where)
    if query is None:
        return RunPage([], None, None)
    if after is not None:
        at, run_id = after
        # The bare ``>=`` bounds the index range; the OR only breaks ties inside it (an OR
        # alone makes SQLite walk the index from its end up to the cursor).
        newer_than = and_(Run.requested_at >= at, or_(Run.requested_at > at, Run.id > run_id))
        found = list(
            session.execute(
                query.where(newer_than)
                .order_by(Run.requested_at.asc(), Run.id.asc())
                .limit(limit + 1)
            )
        )
        more_newer = len(found) > limit
        found = list(reversed(found[:limit]))
        more_older = True
    else:
        if before is not None:
            at, run_id = before
            query = query.where(Run.requested_at <= at, or_(Run.requested_at < at, Run.id < run_id))
        found = list(
            session.execute(query.order_by(Run.requested_at.desc(), Run.id.desc()).limit(limit + 1))
        )
        more_older = len(found) > limit
        found = found[:limit]
        more_newer = before is not None
    names = workflow_names(session, {row[0].workflow_id for row in found})
    rows = [RunRow(run, names.get(run.workflow_id), source, name) for run, source, name in found]
    older = (
        encode_cursor(rows[-1].run.requested_at, rows[-1].run.id) if rows and more_older else None
    )
    newer = encode_cursor(rows[0].run.requested_at, rows[0].run.id) if rows and more_newer else None
    return RunPage(rows, older, newer)


def workflow_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(
        session.execute(select(Workflow.id, Workflow.name).where(Workflow.id.in_(ids))).all()
    )


def last_runs(
    session: Session, *, workflow_ids: list[str], per_workflow: int = 10
) -> dict[str, list[Run]]:
    """The newest ``per_workflow`` runs of each workflow, newest first: one short index
    range per workflow (a window function over all runs would read every run of each
    workflow, 100,000 rows for a busy one, to keep ten)."""
    found: dict[str, list[Run]] = {}
    for workflow_id in workflow_ids:
        found[workflow_id] = list(
            session.scalars(
                select(Run)
                .where(Run.workflow_id == workflow_id)
                .order_by(Run.requested_at.desc(), Run.id.desc())
                .limit(per_workflow)
            )
        )
    return found
