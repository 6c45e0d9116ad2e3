from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from service.store.models.triggers import FileWatch, SeenBlob

_IN_CHUNK = 500


def list_watches(session: Session) -> list[FileWatch]:
    return list(session.scalars(select(FileWatch).order_by(FileWatch.workflow_name)))


def get_watch(session: Session, *, workflow_name: str) -> FileWatch | None:
    return session.scalars(
        select(FileWatch).where(FileWatch.workflow_name == workflow_name)
    ).one_or_none()


def claim_watch(
    session: Session, *, watch_id: str, owner: str, now: datetime, until: datetime
) -> bool:
    """Takes the watch for one poll unless another listener holds an unexpired lease.
    A conditional UPDATE with a rowcount check: works the same on SQLite and Postgres."""
    result = session.execute(
        update(FileWatch)
        .where(
            FileWatch.id == watch_id,
            or_(
                FileWatch.lease_until.is_(None),
                FileWatch.lease_until < now,
                FileWatch.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_watch(session: Session, *, watch_id: str, owner: str) -> None:
    session.execute(
        update(FileWatch)
        .where(FileWatch.id == watch_id, FileWatch.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def seen_etags(session: Session, *, watch_id: str, names: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(names), _IN_CHUNK):
        chunk = list(names[start : start + _IN_CHUNK])
        rows = session.execute(
            select(SeenBlob.name, SeenBlob.etag).where(
                SeenBlob.watch_id == watch_id, SeenBlob.name.in_(chunk)
            )
        )
        found.update({name: etag for name, etag in rows})
    return found


def mark_seen(
    session: Session, *, watch_id: str, name: str, etag: str, now: datetime, known: bool
) -> None:
    if known:
        session.execute(
            update(SeenBlob)
            .where(SeenBlob.watch_id == watch_id, SeenBlob.name == name)
            .values(etag=etag, seen_at=now)
        )
    else:
        session.add(SeenBlob(watch_id=watch_id, name=name, etag=etag, seen_at=now))


def prune_seen_before(session: Session, *, watch_id: str, name: str) -> int:
    """Forgets blobs whose names sort before ``name``: listing never reaches them again."""
    result = session.execute(
        delete(SeenBlob).where(SeenBlob.watch_id == watch_id, SeenBlob.name < name)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_seen(session: Session, *, watch_id: str) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count()).select_from(SeenBlob).where(SeenBlob.watch_id == watch_id)
        )
        or 0
    )
