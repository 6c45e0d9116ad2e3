"""An attempt has ended at Databricks: retry it, or end the run for good.

Called by the poller in the transaction that records the ending, so the decision, the
attempt row, the run's next state and its alerts commit together (observing the same
ending twice finds the run no longer active and does nothing).

- A run Lockgate cancelled for its timeout is recorded TIMEDOUT (status ``failed``).
- The retry policy (``service.policies.retry.decide``) picks resubmit, repair or give up.
  A retry parks the run in ``retrying`` until ``next_attempt_at`` (the sweeper sends it
  then) and emits ``run.retrying``; the run is not finished, so alerts that wait for the
  last attempt are not sent yet. Giving up finishes the run (its terminal alerts), and
  ``run.retries_exhausted`` when retries were allowed and all were spent: the final
  alert says so, and the second event reaches only targets that do not hear the final
  one (one alert per target for one failure).
- A run that ends for good frees a concurrency slot: queued runs of its workflow are
  let through.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from service.policies.retry import GiveUp, Repair, RunFacts, decide
from service.runs.concurrency import promote_queued
from service.runs.dispatch import workflow_options
from service.runs.finishing import emit_run_event, finish_run, terminal_event_type
from service.runs.options import EngineOptions
from service.settings import Settings
from service.store.models import Run, RunStatus, Workflow
from service.store.repositories import runs as runs_repo

if TYPE_CHECKING:
    from service.triggers.ledger import AcceptedTrigger

log = logging.getLogger(__name__)

_NOT_FAILED = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES", "EXCLUDED"})


@dataclass
class Concluded:
    alert_delivery_ids: list[str] = field(default_factory=list)
    submit_run_ids: list[str] = field(default_factory=list)  # due retries, promoted runs
    retrying: bool = False
    # Job-completion triggers the run's end fired: announce once committed.
    fired_triggers: list[AcceptedTrigger] = field(default_factory=list)


def conclude_attempt(
    session: Session,
    *,
    run: Run,
    termination_code: str | None,
    settings: Settings,
    now: datetime,
    jitter: Callable[[], float] = random.random,
    options_cache: dict[str, EngineOptions | None] | None = None,
) -> Concluded:
    """``run`` has just been given its terminal Databricks state (``_apply``).
    ``options_cache`` (workflow id -> options) spares a sweep parsing the same workflow
    for each of its runs that ended."""
    concluded = Concluded()
    if run.cancel_reason == "timeout":
        run.result_state = "TIMEDOUT"
        run.status = RunStatus.FAILED
        run.state_message = "Lockgate cancelled the run: it ran past its timeout"
    cache = options_cache if options_cache is not None else {}
    if run.workflow_id not in cache:
        cache[run.workflow_id] = workflow_options(session.get(Workflow, run.workflow_id), settings)
    options = cache[run.workflow_id]
    if options is None or run.status == RunStatus.SUCCEEDED:
        decision = None
    else:
        facts = RunFacts(
            attempt=run.attempt,
            life_cycle_state=run.life_cycle_state,
            result_state=run.result_state,
            termination_code=termination_code,
            cancel_requested_by_user=run.cancel_reason == "user",
            failed_task_keys=tuple(
                t.task_key
                for t in run.tasks
                if t.result_state and t.result_state not in _NOT_FAILED
            ),
            jitter_sample=jitter(),
        )
        decision = decide(facts, options.retry, now)
    if decision is None or isinstance(decision, GiveUp):
        reason = decision.reason if decision else run.result_state or run.status
        runs_repo.record_attempt_ended(
            session, run=run, termination_code=termination_code, decision="give_up", reason=reason
        )
        exhausted = (
            {"attempts": run.attempt, "retries_exhausted": decision.reason}
            if decision is not None and decision.exhausted
            else None
        )
        concluded.alert_delivery_ids += finish_run(
            session,
            run=run,
            detail=exhausted,
            settings=settings,
            fired=concluded.fired_triggers,
        )
        if exhausted is not None:
            concluded.alert_delivery_ids += emit_run_event(
                session,
                run=run,
                event_type="run.retries_exhausted",
                detail=exhausted,
                covered_by=(terminal_event_type(run),),
                settings=settings,
            )
        if options is not None:
            promotion = promote_queued(
                session, workflow_id=run.workflow_id, options=options, now=now
            )
            concluded.submit_run_ids += promotion.run_ids
            for expired in promotion.expired:
                concluded.alert_delivery_ids += finish_run(
                    session, run=expired, settings=settings, fired=concluded.fired_triggers
                )
        return concluded

    assert options is not None  # a retry was decided by its policy
    mode = "repair" if isinstance(decision, Repair) else "resubmit"
    runs_repo.record_attempt_ended(
        session, run=run, termination_code=termination_code, decision=mode, reason=decision.reason
    )
    concluded.alert_delivery_ids += emit_run_event(
        session,
        run=run,
        event_type="run.retrying",
        detail={
            "next_attempt": decision.attempt,
            "max_attempts": options.retry.max_attempts,
            "next_attempt_at": decision.at.isoformat(),
            "mode": mode,
            "reason": decision.reason,
        },
        settings=settings,
    )
    run.status = RunStatus.RETRYING
    run.retry_mode = mode
    run.next_attempt_at = decision.at
    run.attempt = decision.attempt
    run.ended_at = None
    run.deadline_at = None
    run.cancel_requested_at = None
    run.cancel_reason = None
    run.updated_at = now
    if mode == "resubmit":
        # The next attempt is a new Databricks run with its own task runs.
        run.tasks.clear()
    concluded.retrying = True
    if decision.at <= now:
        concluded.submit_run_ids.append(run.id)
    log.info(
        "run will retry (%s) at %s: %s",
        mode,
        decision.at.isoformat(),
        decision.reason,
        extra={"run_id": run.id},
    )
    return concluded
