"""A watcher process for the restart test: passes in a loop, each ending logged by a
handler in the ending's own transaction (so a log row exists exactly when the ending's
ledger event does). Killed with SIGKILL by the test, started again, killed again.

    python -m tests.workspace._watch_loop STORE_URL BACKEND_URL
"""

from __future__ import annotations

import sys
import time
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.orm import Session

from service.databricks import DatabricksClient, PatAuth
from service.runs.queue import TaskMessage
from service.store.db import make_engine, make_session_factory
from service.workspace.ended_runs import EndedRun
from service.workspace.job_directory import JobDirectory
from service.workspace.watcher import WatchLimits, watch_workspace

probe_metadata = MetaData()
handled = Table(
    "watch_probe_handled",
    probe_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64)),
)


class LoggingHandler:
    def prepare(self, ended: EndedRun, client: DatabricksClient) -> Any:
        return None

    def record(self, session: Session, ended: EndedRun, prepared: Any) -> list[TaskMessage]:
        session.execute(insert(handled).values(dedupe_key=ended.dedupe_key))
        return []


def watch_pass(store_url: str, backend_url: str, *, passes: int, pause: float) -> None:
    engine = make_engine(store_url)
    probe_metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with DatabricksClient(backend_url, PatAuth("x")) as client:
        jobs = JobDirectory(client)
        for _ in range(passes):
            watch_workspace(
                sessions,
                client,
                jobs,
                workspace="default",
                limits=WatchLimits(overlap_ms=5_000, max_pages=100),
                handlers=[LoggingHandler()],
            )
            time.sleep(pause)
    engine.dispose()


if __name__ == "__main__":
    watch_pass(sys.argv[1], sys.argv[2], passes=10_000, pause=0.05)
