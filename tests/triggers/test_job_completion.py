"""Job-completion triggers over a real store and a real Redis queue: ALL and ANY, the
outcome filter, min_time holding a fire and then firing it, a completion handed in twice
firing once, job upstreams by id, name and tags, pausing, and a Lockgate run's end."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.runs.finishing import finish_run
from service.store.models import RunStatus, Workflow
from service.store.models.completion import CompletionTrigger, CompletionUpstream
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo
from service.triggers.completion_sync import sync_completion_trigger
from service.triggers.job_completion import (
    Completion,
    fire_due,
    on_completion,
    on_workflow_run_ended,
)
from service.triggers.ledger import AcceptedTrigger, announce_all, record_trigger
from service.workspace.ended_runs import JobInfo
from tests.factories import simple_workflow
from tests.triggers.conftest import Triggers

pytestmark = pytest.mark.parametrize("database_url", ["store"], indirect=True)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def define(
    triggers: Triggers, name: str, block: dict[str, Any] | None = None, **trigger: Any
) -> str:
    """Writes a workflow (with a job-completion block) and syncs its trigger, as the
    API does."""
    extra = {"trigger": {"job_completion": block, **trigger}} if block is not None else {}
    source = simple_workflow(name, **extra)
    with triggers.sessions.begin() as session:
        workflow = workflows_repo.get_workflow_by_name(session, name=name)
        if workflow is None:
            workflow = workflows_repo.create_workflow(session, name=name, source=source)
        else:
            workflows_repo.replace_workflow_source(session, workflow=workflow, source=source)
        sync_completion_trigger(session, workflow=workflow, now=NOW)
        return workflow.id


def ended(
    run_id: str,
    *,
    workflow: str | None = None,
    job: JobInfo | None = None,
    result: str = "SUCCESS",
    at: datetime = NOW,
    workspace: str = "default",
) -> Completion:
    return Completion(
        run_id=run_id,
        result_state=result,
        ended_at=at,
        workflow_name=workflow,
        job=job,
        workspace=workspace,
    )


def hand_in(
    triggers: Triggers, completion: Completion, now: datetime = NOW
) -> list[AcceptedTrigger]:
    with triggers.sessions.begin() as session:
        accepted = on_completion(session, completion, now=now)
    announce_all(triggers.sender, accepted)
    return accepted


def fired_parameters(triggers: Triggers) -> list[dict[str, str]]:
    return [dict(e.parameters) for e in triggers.accepted("job_completion")]


def test_all_fires_once_every_upstream_has_a_new_matching_run(triggers: Triggers) -> None:
    define(triggers, "up-a")
    with triggers.sessions.begin() as session:
        up = workflows_repo.get_workflow_by_name(session, name="up-a")
        assert up is not None
        up.databricks_job_id = 77  # deployed: its job id is passed on
    define(triggers, "down", {"upstreams": [{"workflow": "up-a"}, {"job_id": 42}]})
    job = JobInfo(job_id=42, name="ingest")

    assert hand_in(triggers, ended("r1", workflow="up-a")) == []
    # A second run of the same upstream before the others: the latest counts.
    assert hand_in(triggers, ended("r2", workflow="up-a", at=NOW + timedelta(seconds=5))) == []
    [fire] = hand_in(triggers, ended("900", job=job, result="SUCCESS_WITH_FAILURES"))
    assert fire.created
    assert triggers.queued_messages() == 1  # announced for dispatch
    event = triggers.accepted("job_completion")[0]
    assert event.source_name == "down"
    assert event.parameters == {
        "upstream_run_ids": "r2,900",
        "upstream_job_ids": "77,42",
        "upstream_result_states": "SUCCESS,SUCCESS_WITH_FAILURES",
        "upstream_workflows": "up-a,",
    }
    assert [u["run_id"] for u in event.payload["upstreams"]] == ["r2", "900"]

    # The job again, but up-a has no new run since the fire: nothing yet.
    later = NOW + timedelta(minutes=1)
    assert hand_in(triggers, ended("901", job=job, at=later), now=later) == []
    [again] = hand_in(triggers, ended("r3", workflow="up-a", at=later), now=later)
    assert again.created
    assert fired_parameters(triggers)[-1]["upstream_run_ids"] == "r3,901"


def test_any_fires_for_each_matching_completion(triggers: Triggers) -> None:
    define(
        triggers,
        "down",
        {"condition": "ANY", "upstreams": [{"workflow": "a"}, {"workflow": "b"}]},
    )
    assert len(hand_in(triggers, ended("r1", workflow="b"))) == 1
    assert len(hand_in(triggers, ended("r2", workflow="a"))) == 1
    assert len(hand_in(triggers, ended("r3", workflow="b"))) == 1
    assert [p["upstream_run_ids"] for p in fired_parameters(triggers)] == ["r1", "r2", "r3"]
    assert [p["upstream_workflows"] for p in fired_parameters(triggers)] == ["b", "a", "b"]
    assert triggers.queued_messages() == 3


@pytest.mark.parametrize(
    ("if_status", "results", "fired"),
    [
        ("SUCCESS", ["FAILED", "CANCELED", "SUCCESS_WITH_FAILURES"], ["SUCCESS_WITH_FAILURES"]),
        ("FAILED", ["SUCCESS", "SUCCESS_WITH_FAILURES", "TIMEDOUT"], ["TIMEDOUT"]),
        ("DONE", ["SKIPPED", "SUCCESS"], ["SKIPPED", "SUCCESS"]),
    ],
)
def test_the_outcome_filter(
    triggers: Triggers, if_status: str, results: list[str], fired: list[str]
) -> None:
    define(triggers, "down", {"if_status": if_status, "upstreams": [{"workflow": "up"}]})
    for position, result in enumerate(results):
        at = NOW + timedelta(seconds=position)
        hand_in(triggers, ended(f"r{position}", workflow="up", result=result, at=at), now=at)
    states = [p["upstream_result_states"] for p in fired_parameters(triggers)]
    assert states == fired


def test_a_completion_handed_in_twice_fires_once(triggers: Triggers) -> None:
    define(triggers, "single", {"upstreams": [{"workflow": "up"}]})
    define(triggers, "pair", {"upstreams": [{"workflow": "up"}, {"workflow": "other"}]})
    first = ended("r1", workflow="up")
    assert len(hand_in(triggers, first)) == 1  # single fires
    assert hand_in(triggers, first) == []
    # pair fired with r1 and o1: r1 handed in again must not make a second pair fire.
    assert len(hand_in(triggers, ended("o1", workflow="other"))) == 1
    assert hand_in(triggers, first) == []
    assert hand_in(triggers, ended("o2", workflow="other", at=NOW + timedelta(seconds=1))) == []
    # An older ending that arrives late does not count either.
    assert hand_in(triggers, ended("r0", workflow="up", at=NOW - timedelta(seconds=30))) == []
    assert [(e.source_name, e.parameters["upstream_run_ids"]) for e in triggers.accepted()] == [
        ("single", "r1"),
        ("pair", "r1,o1"),
    ]


def test_min_time_holds_a_fire_and_fires_it_with_what_was_gathered(triggers: Triggers) -> None:
    define(
        triggers,
        "down",
        {
            "condition": "ANY",
            "min_time_between_triggers_seconds": 60,
            "upstreams": [{"workflow": "a"}, {"workflow": "b"}],
        },
    )

    def at(seconds: int) -> datetime:
        return NOW + timedelta(seconds=seconds)

    assert len(hand_in(triggers, ended("a1", workflow="a"), now=at(0))) == 1
    assert hand_in(triggers, ended("a2", workflow="a", at=at(10)), now=at(10)) == []
    assert hand_in(triggers, ended("b1", workflow="b", at=at(20)), now=at(20)) == []
    assert hand_in(triggers, ended("a3", workflow="a", at=at(30)), now=at(30)) == []
    with triggers.sessions() as session:
        row = session.scalars(select(CompletionTrigger)).one()
        assert row.due_at == at(60)

    with triggers.sessions.begin() as session:
        assert fire_due(session, now=at(59)) == []
    with triggers.sessions.begin() as session:
        due = fire_due(session, now=at(60))
    announce_all(triggers.sender, due)
    assert [a.created for a in due] == [True]
    assert fired_parameters(triggers)[-1]["upstream_run_ids"] == "a3,b1"
    assert triggers.queued_messages() == 2
    with triggers.sessions.begin() as session:
        assert fire_due(session, now=at(200)) == []


def test_job_upstreams_by_id_name_and_tags_in_their_workspace(triggers: Triggers) -> None:
    define(
        triggers,
        "down",
        {
            "condition": "ANY",
            "workspace": "emea",
            "upstreams": [
                {"job_id": 1},
                {"job_name": "ingest"},
                {"job_tag": {"team": "finance", "tier": "*"}},
            ],
        },
    )
    cases = [
        (JobInfo(1, "anything"), "emea", True),
        (JobInfo(2, "ingest"), "emea", True),
        (JobInfo(3, "other", {"team": "finance", "tier": "gold"}), "emea", True),
        (JobInfo(4, "other", {"team": "finance"}), "emea", False),  # tier missing
        (JobInfo(5, "other", {"team": "sales", "tier": "gold"}), "emea", False),
        (JobInfo(1, "anything"), "default", False),  # another workspace
        # The job Lockgate deploys for `down` itself never triggers it.
        (
            JobInfo(6, "down", {"team": "finance", "tier": "x", "lockgate_workflow": "down"}),
            "emea",
            False,
        ),
    ]
    fired = []
    for position, (job, workspace, _) in enumerate(cases):
        at = NOW + timedelta(seconds=position)
        completion = ended(str(100 + position), job=job, workspace=workspace, at=at)
        fired.append(bool(hand_in(triggers, completion, now=at)))
    assert fired == [expected for _, _, expected in cases]
    assert [p["upstream_job_ids"] for p in fired_parameters(triggers)] == ["1", "2", "3"]


def test_a_paused_trigger_does_not_fire(triggers: Triggers) -> None:
    define(triggers, "down", {"upstreams": [{"workflow": "up"}]}, pause_status="PAUSED")
    assert hand_in(triggers, ended("r1", workflow="up")) == []
    assert triggers.accepted() == []
    with triggers.sessions() as session:
        assert session.scalars(select(CompletionTrigger)).one().pending == {}
    # Unpaused, a run that ends fires it.
    define(triggers, "down", {"upstreams": [{"workflow": "up"}]}, pause_status="UNPAUSED")
    later = NOW + timedelta(minutes=1)
    assert len(hand_in(triggers, ended("r2", workflow="up", at=later), now=later)) == 1


def test_state_survives_a_change_that_keeps_the_meaning(triggers: Triggers) -> None:
    block: dict[str, Any] = {"upstreams": [{"workflow": "a"}, {"workflow": "b"}]}
    define(triggers, "down", block)
    hand_in(triggers, ended("a1", workflow="a"))
    # Reordered upstreams and a new minimum time: the pending a1 still counts.
    define(
        triggers,
        "down",
        {
            "min_time_between_triggers_seconds": 5,
            "upstreams": [{"workflow": "b"}, {"workflow": "a"}],
        },
    )
    assert len(hand_in(triggers, ended("b1", workflow="b"))) == 1
    assert fired_parameters(triggers)[-1]["upstream_run_ids"] == "b1,a1"

    later = NOW + timedelta(minutes=1)
    hand_in(triggers, ended("a2", workflow="a", at=later), now=later)
    define(triggers, "down", {**block, "if_status": "DONE"})  # other rules: a2 dropped
    assert hand_in(triggers, ended("b2", workflow="b", at=later), now=later) == []

    define(triggers, "down")  # the block removed: the row and its lookup rows go
    with triggers.sessions() as session:
        assert session.scalars(select(CompletionTrigger)).all() == []
        assert session.scalars(select(CompletionUpstream)).all() == []


def test_a_deleted_workflow_takes_its_trigger_with_it(triggers: Triggers) -> None:
    workflow_id = define(triggers, "down", {"upstreams": [{"job_id": 1}]})
    with triggers.sessions.begin() as session:
        session.delete(session.get(Workflow, workflow_id))
    with triggers.sessions() as session:
        assert session.scalars(select(CompletionTrigger)).all() == []


def test_the_final_end_of_a_lockgate_run_fires_its_downstream(triggers: Triggers) -> None:
    up_id = define(triggers, "up")
    define(triggers, "down", {"upstreams": [{"workflow": "up"}]})
    fired: list[AcceptedTrigger] = []
    with triggers.sessions.begin() as session:
        manual = record_trigger(
            session,
            source="manual",
            source_name="up",
            dedupe_key="once:1",
            workflow_id=up_id,
            payload={},
            parameters={},
        )
        run = runs_repo.create_run(
            session, workflow_id=up_id, trigger_event_id=manual.event_id, parameters={}
        )
        run.status = RunStatus.RETRYING  # an attempt failed, another comes: not an end
        assert on_workflow_run_ended(session, run=run, now=NOW) == []
        run.status, run.result_state, run.ended_at = RunStatus.FAILED, "TIMEDOUT", NOW
        assert on_workflow_run_ended(session, run=run, now=NOW) == []  # waits for SUCCESS
        run.status, run.result_state = RunStatus.SUCCEEDED, "SUCCESS"
        run.ended_at = NOW + timedelta(seconds=1)
        finish_run(session, run=run, settings=triggers.settings, now=run.ended_at, fired=fired)
        run_id = run.id
    assert [a.created for a in fired] == [True]
    assert fired_parameters(triggers) == [
        {
            "upstream_run_ids": run_id,
            "upstream_job_ids": "",
            "upstream_result_states": "SUCCESS",
            "upstream_workflows": "up",
        }
    ]


def test_two_workers_ending_both_upstreams_at_once_fire_once(triggers: Triggers) -> None:
    """The second worker waits for the first one's row lock and sees its pending run
    (without the lock, each would keep only its own and neither would fire)."""
    define(triggers, "down", {"upstreams": [{"workflow": "a"}, {"workflow": "b"}]})
    first_holds_lock = threading.Event()
    fired: list[AcceptedTrigger] = []

    def first() -> None:
        with triggers.sessions.begin() as session:
            fired.extend(on_completion(session, ended("a1", workflow="a"), now=NOW))
            first_holds_lock.set()
            time.sleep(0.5)  # the second worker's evaluation starts meanwhile

    worker = threading.Thread(target=first)
    worker.start()
    assert first_holds_lock.wait(10)
    with triggers.sessions.begin() as session:
        fired.extend(on_completion(session, ended("b1", workflow="b"), now=NOW))
    worker.join(10)
    assert [a.created for a in fired] == [True]
    assert fired_parameters(triggers) == [
        {
            "upstream_run_ids": "a1,b1",
            "upstream_job_ids": ",",
            "upstream_result_states": "SUCCESS,SUCCESS",
            "upstream_workflows": "a,b",
        }
    ]
