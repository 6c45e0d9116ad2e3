"""The decisions of a job-completion trigger, as pure functions of its state and ``now``.

State (kept on the ``completion_triggers`` row, see ``service.store.models.completion``):
``pending`` maps an upstream's key to the latest matching completion not yet consumed,
``consumed`` to the last one a fire consumed. A completion is a small JSON record
(``run_id``, ``ended_at`` ISO time, and what the fire passes on).

- A completion counts for an upstream unless it is the one already pending or consumed
  (handed in twice), or ended before the one pending or consumed (arrived late): with
  several completions of one upstream before a fire, the latest counts.
- ``ALL`` is ready when every upstream has one pending, ``ANY`` when one has.
- ``min_time_between_triggers_seconds`` holds a ready fire until that long after the
  last one; what was gathered by then fires then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any


def counts(
    record: Mapping[str, Any],
    *,
    pending: Mapping[str, Any] | None,
    consumed: Mapping[str, Any] | None,
) -> bool:
    """Whether ``record`` becomes the upstream's pending completion."""
    for known in (pending, consumed):
        if known is None:
            continue
        if known.get("run_id") == record["run_id"]:
            return False
        if _ended(known) > _ended(record):
            return False
    return True


def is_ready(condition: str, keys: Sequence[str], pending: Mapping[str, Any]) -> bool:
    if condition == "ANY":
        return any(key in pending for key in keys)
    return bool(keys) and all(key in pending for key in keys)


def held_until(last_fired_at: datetime | None, min_seconds: int, now: datetime) -> datetime | None:
    """When a fire ready at ``now`` may happen, if not now."""
    if last_fired_at is None or min_seconds <= 0:
        return None
    due = last_fired_at + timedelta(seconds=min_seconds)
    return due if due > now else None


def _ended(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["ended_at"]))
