"""Replaying a ledger event: a new event (so a new run) that names the one it replays.

The original is never reset or re-dispatched: its run stays what it was, and the
replay's run is linked to it through ``replay_of_id``. A duplicate replays the event it
duplicates; rejected and filtered deliveries started nothing and carry no trusted
parameters, so they cannot be replayed (send them again instead).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.store.models import EventStatus, TriggerEvent, new_id
from service.triggers.ledger import AcceptedTrigger, Verdict, record_trigger

SOURCE = "replay"


class NotReplayable(Exception):
    pass


def replay_event(
    session: Session, *, event: TriggerEvent, idempotency_key: str | None
) -> AcceptedTrigger:
    original = event
    if event.status == EventStatus.IGNORED:
        if event.verdict == Verdict.DUPLICATE and event.duplicate_of_id:
            found = session.get(TriggerEvent, event.duplicate_of_id)
            if found is None:
                raise NotReplayable("the event it duplicates is gone")
            original = found
        else:
            raise NotReplayable(
                f"a {event.verdict} delivery started nothing and has no trusted parameters; "
                "have the sender send it again"
            )
    workflow_id = original.workflow_id
    if workflow_id is None:
        raise NotReplayable("a run seen ending in a workspace starts nothing by itself")
    # The same Idempotency-Key replays once; without one every call is a new replay.
    key = f"key:{idempotency_key}" if idempotency_key else f"once:{new_id()}"
    return record_trigger(
        session,
        source=SOURCE,
        source_name=original.id,
        dedupe_key=key,
        workflow_id=workflow_id,
        payload=dict(original.payload),
        parameters=dict(original.parameters),
        replay_of_id=original.id,
    )
