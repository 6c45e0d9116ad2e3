"""What an alert says about its event, beside the run: a label and the event's own facts.

A run's end reads well as its state ("FAILED: etl run ..."), but the other events do
not: a duration warning sent while the run is RUNNING, or a retried attempt that FAILED,
would read like the run's outcome. Those lead with what happened instead ("Duration
warning (95 s > 60 s): ...", "Retrying (attempt 2 of 3): ..."), and every channel lists
the event's ``detail`` and the repeats folded since the last alert.

Payloads are read defensively: they are stored on delivery rows and may come from an
older version of the payload builder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Events whose label needs nothing from the detail.
_PLAIN_LABELS = {
    "run.started": "Started",
    "expectation.missed": "Expectation missed",
    "trigger.rejected": "Trigger rejected",
}


def event_label(payload: Mapping[str, Any]) -> str | None:
    """What happened, for events that are not a run's end; None for a run's end (its
    state says it)."""
    event_type = str(payload.get("event_type", ""))
    detail = _section(payload, "detail")
    if event_type in _PLAIN_LABELS:
        return _PLAIN_LABELS[event_type]
    if event_type == "run.retrying":
        attempt, most = detail.get("next_attempt"), detail.get("max_attempts")
        if _is_number(attempt) and _is_number(most):
            return f"Retrying (attempt {_number(attempt)} of {_number(most)})"
        return f"Retrying (attempt {_number(attempt)})" if _is_number(attempt) else "Retrying"
    if event_type == "run.retries_exhausted":
        attempts = detail.get("attempts")
        if _is_number(attempts):
            return f"Retries exhausted (after {_number(attempts)} attempts)"
        return "Retries exhausted"
    if event_type == "run.duration_warning":
        elapsed, limit = detail.get("elapsed_seconds"), detail.get("limit_seconds")
        if _is_number(elapsed) and _is_number(limit):
            return f"Duration warning ({_number(elapsed)} s > {_number(limit)} s)"
        return "Duration warning"
    return None


def detail_facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The repeats folded since the last alert (when any) and the event's detail, as
    (label, value) pairs in the detail's order."""
    pairs: list[tuple[str, str]] = []
    suppressed = payload.get("suppressed_since_last_alert")
    if isinstance(suppressed, int) and not isinstance(suppressed, bool) and suppressed > 0:
        pairs.append(("Suppressed since last alert", _number(suppressed)))
    for key, value in _section(payload, "detail").items():
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        pairs.append((str(key).replace("_", " ").capitalize(), text))
    return pairs


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> str:
    # 60.0 reads "60"; 60.5 stays.
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _section(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}
