"""The local backend's own SQLite file: jobs, runs, task runs, idempotency tokens and
notification destinations.

Separate from Lockgate's database on purpose: the backend stands in for a Databricks
workspace, which Lockgate only reaches over HTTP, and it runs standalone
(``lockgate local-databricks``). Each record is one JSON document in a row keyed by its
id (``_snapshots``, ``_destinations``), so the schema is a few small tables; it is made
with SQLAlchemy ``create_all`` and guarded by a ``schema_version`` row rather than an
Alembic environment of its own: there is nothing to migrate column by column, and a file
written by a newer backend is refused instead of misread. A table added later (the
destinations) is simply created in an older file: no version bump, older backends
ignore it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import Connection, Engine

SCHEMA_VERSION = 1

metadata = MetaData()
schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))
jobs = Table(
    "jobs",
    metadata,
    Column("job_id", BigInteger, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
)
runs = Table(
    "runs",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
)
task_runs = Table(
    "task_runs",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("parent_run_id", BigInteger, nullable=False, index=True),
    Column("document", Text, nullable=False),
)
tokens = Table(
    "idempotency_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("run_id", BigInteger, nullable=False),
)

destinations = Table(
    "notification_destinations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("document", Text, nullable=False),
)


class StateFileError(RuntimeError):
    pass


@dataclass
class LoadedState:
    jobs: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    task_runs: list[dict[str, Any]]  # ordered by run_id = creation order
    tokens: dict[str, int]


class StateDatabase:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._engine: Engine = create_engine(f"sqlite:///{path}")
        event.listen(self._engine, "connect", _sqlite_pragmas)
        metadata.create_all(self._engine)
        with self._engine.begin() as connection:
            found = connection.execute(select(schema_version.c.version)).scalars().all()
            if not found:
                connection.execute(schema_version.insert().values(version=SCHEMA_VERSION))
            elif max(found) > SCHEMA_VERSION:
                raise StateFileError(
                    f"{path} was written by a newer local backend (schema {max(found)}, "
                    f"this one reads {SCHEMA_VERSION})"
                )

    def load(self) -> LoadedState:
        with self._engine.connect() as connection:
            return LoadedState(
                jobs=_documents(connection, select(jobs.c.document).order_by(jobs.c.job_id)),
                runs=_documents(connection, select(runs.c.document).order_by(runs.c.run_id)),
                task_runs=_documents(
                    connection, select(task_runs.c.document).order_by(task_runs.c.run_id)
                ),
                tokens={row.token: row.run_id for row in connection.execute(select(tokens)).all()},
            )

    def write(
        self,
        *,
        jobs_to_save: Iterable[dict[str, Any]] = (),
        jobs_to_delete: Iterable[int] = (),
        runs_to_save: Iterable[dict[str, Any]] = (),
        task_runs_to_save: Iterable[dict[str, Any]] = (),
        runs_to_delete: Iterable[int] = (),
        tokens_to_save: Iterable[tuple[str, int]] = (),
    ) -> None:
        """One transaction for everything one hold of the store lock changed."""
        with self._engine.begin() as connection:
            for doc in jobs_to_save:
                _upsert(connection, jobs, {"job_id": doc["job_id"]}, doc)
            for job_id in jobs_to_delete:
                connection.execute(delete(jobs).where(jobs.c.job_id == job_id))
            for doc in runs_to_save:
                _upsert(connection, runs, {"run_id": doc["run_id"]}, doc)
            for doc in task_runs_to_save:
                keys = {"run_id": doc["run_id"], "parent_run_id": doc["parent_run_id"]}
                _upsert(connection, task_runs, keys, doc)
            for run_id in runs_to_delete:
                connection.execute(delete(runs).where(runs.c.run_id == run_id))
                connection.execute(delete(task_runs).where(task_runs.c.parent_run_id == run_id))
            for token, run_id in tokens_to_save:
                statement = insert(tokens).values(token=token, run_id=run_id)
                connection.execute(statement.on_conflict_do_nothing())

    def load_destinations(self) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            statement = select(destinations.c.document).order_by(destinations.c.id)
            return _documents(connection, statement)

    def save_destination(self, doc: dict[str, Any]) -> None:
        with self._engine.begin() as connection:
            _upsert(connection, destinations, {"id": doc["id"]}, doc)

    def delete_destination(self, destination_id: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(destinations).where(destinations.c.id == destination_id))

    def close(self) -> None:
        self._engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _documents(connection: Connection, statement: Any) -> list[dict[str, Any]]:
    return [json.loads(text) for text in connection.execute(statement).scalars()]


def _upsert(
    connection: Connection, table: Table, keys: dict[str, Any], doc: dict[str, Any]
) -> None:
    text = json.dumps(doc, separators=(",", ":"))
    statement = insert(table).values(**keys, document=text)
    connection.execute(
        statement.on_conflict_do_update(index_elements=[next(iter(keys))], set_={"document": text})
    )
