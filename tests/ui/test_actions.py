"""The console's buttons do what the API's routes do: cancel, repair, run again with
edited parameters, replay (after a confirmation), test a payload, redeliver a dead
alert, send a test alert, pause and unpause a schedule. Each is checked in the store."""

from __future__ import annotations

import re

from service.store.models import AlertDelivery, Run, TriggerEvent
from service.store.models.triggers import Schedule
from tests.ui.conftest import Console
from tests.ui.seed import seed


def test_cancel_and_repair_from_the_run_page(console: Console) -> None:
    s = seed(console.sessions)
    operator = console.signed_in("trigger")
    cancelled = console.post_form(
        operator, f"/ui/runs/{s.evil_run_id}", f"/ui/runs/{s.evil_run_id}/cancel"
    )
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/ui/runs/{s.evil_run_id}?notice=cancel-requested"
    assert "Cancel sent" in operator.get(cancelled.headers["location"]).text
    repaired = console.post_form(operator, f"/ui/runs/{s.run_id}", f"/ui/runs/{s.run_id}/repair")
    assert repaired.status_code == 303
    with console.sessions() as session:
        evil = session.get(Run, s.evil_run_id)
        run = session.get(Run, s.run_id)
        assert (
            evil is not None
            and evil.cancel_requested_at is not None
            and evil.cancel_reason == "user"
        )
        assert run is not None and (run.status, run.retry_mode, run.attempt) == (
            "retrying",
            "repair",
            2,
        )
    # A second repair of a run no longer failed is refused with the API's reason.
    again = console.post_form(operator, f"/ui/runs/{s.run_id}", f"/ui/runs/{s.run_id}/repair")
    assert again.status_code == 409
    assert "cannot be repaired" in again.text


def test_run_again_with_edited_parameters(console: Console) -> None:
    s = seed(console.sessions)
    operator = console.signed_in("trigger")
    form = operator.get(f"/ui/runs/{s.run_id}/rerun").text
    assert 'value="2026-11-25"' in form  # the run's own parameters, ready to edit
    once = re.search(r'name="once" value="([^"]+)"', form)
    assert once
    data = {"name": ["d", "extra", ""], "value": ["2026-12-24", "yes", ""], "once": once.group(1)}
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    started = operator.post(
        f"/ui/runs/{s.run_id}/rerun", data={**data, "csrf_token": token.group(1)}
    )
    assert started.status_code == 303, started.text
    event_id = started.headers["location"].split("/ui/events/")[1].split("?")[0]
    # The same form posted twice (a double click) starts one run.
    twice = operator.post(f"/ui/runs/{s.run_id}/rerun", data={**data, "csrf_token": token.group(1)})
    assert twice.headers["location"].split("/ui/events/")[1].split("?")[0] == event_id
    with console.sessions() as session:
        event = session.get(TriggerEvent, event_id)
        assert event is not None
        assert (event.source, event.parameters) == ("manual", {"d": "2026-12-24", "extra": "yes"})


def test_replay_asks_first_then_makes_a_new_event(console: Console) -> None:
    s = seed(console.sessions)
    operator = console.signed_in("trigger")
    asked = console.post_form(
        operator, f"/ui/events/{s.event_id}", f"/ui/events/{s.event_id}/replay"
    )
    assert asked.status_code == 200
    assert "Replay this event?" in asked.text and "Yes, replay it" in asked.text
    with console.sessions() as session:
        assert (
            session.query(TriggerEvent).filter(TriggerEvent.replay_of_id == s.event_id).count() == 0
        )
    token = re.search(r'name="csrf_token" value="([^"]+)"', asked.text)
    once = re.search(r'name="once" value="([^"]+)"', asked.text)
    assert token and once
    done = operator.post(
        f"/ui/events/{s.event_id}/replay",
        data={"csrf_token": token.group(1), "confirm": "yes", "once": once.group(1)},
    )
    assert done.status_code == 303
    with console.sessions() as session:
        replays = session.query(TriggerEvent).filter(TriggerEvent.replay_of_id == s.event_id).all()
        assert len(replays) == 1 and replays[0].source == "replay"
        assert done.headers["location"].startswith(f"/ui/events/{replays[0].id}")


def test_test_this_payload_shows_what_it_would_start(console: Console) -> None:
    seed(console.sessions)
    reader = console.signed_in("read")
    result = console.post_form(
        reader,
        "/ui/events-test",
        "/ui/events-test",
        {"hook": "orders", "body": '{"date": "2026-12-01"}', "headers": "X-Test: 1", "query": ""},
    )
    assert result.status_code == 200, result.text
    assert "would_dispatch" in result.text
    assert "comprehensive-etl-pipeline" in result.text and "2026-12-01" in result.text
    bad = console.post_form(
        reader, "/ui/events-test", "/ui/events-test", {"hook": "orders", "body": "{nope"}
    )
    assert bad.status_code == 422 and "body: not JSON (line 1" in bad.text
    unknown = console.post_form(
        reader, "/ui/events-test", "/ui/events-test", {"hook": "nope", "body": "{}"}
    )
    assert unknown.status_code == 404 and "names no hook" in unknown.text


def test_redeliver_a_dead_alert_and_send_a_test_alert(console: Console) -> None:
    s = seed(console.sessions)
    admin = console.signed_in("admin")
    redelivered = console.post_form(
        admin, f"/ui/alerts/{s.delivery_id}", f"/ui/alerts/{s.delivery_id}/redeliver"
    )
    assert redelivered.status_code == 303
    tested = console.post_form(admin, "/ui/alerts", "/ui/channels/etl-failures/test")
    assert tested.status_code == 303
    with console.sessions() as session:
        delivery = session.get(AlertDelivery, s.delivery_id)
        assert delivery is not None and delivery.status == "pending"
        assert (
            session.query(AlertDelivery).filter(AlertDelivery.event_type == "alert.test").count()
            == 1
        )


def test_pause_and_unpause_a_schedule(console: Console) -> None:
    s = seed(console.sessions)
    admin = console.signed_in("admin")
    page = f"/ui/workflows/{s.workflow}"
    assert console.post_form(admin, page, f"{page}/schedule", {"paused": "true"}).status_code == 303
    with console.sessions() as session:
        assert session.query(Schedule).filter(Schedule.workflow_name == s.workflow).one().paused
    html = admin.get(page).text
    assert "paused" in html and "Unpause schedule" in html
    assert (
        console.post_form(admin, page, f"{page}/schedule", {"paused": "false"}).status_code == 303
    )
    with console.sessions() as session:
        row = session.query(Schedule).filter(Schedule.workflow_name == s.workflow).one()
        assert not row.paused and row.next_fire_at is not None
    assert "Pause schedule" in admin.get(page).text


def test_repair_runs_the_tasks_chosen_on_the_run_page(console: Console) -> None:
    s = seed(console.sessions)
    operator = console.signed_in("trigger")
    page = operator.get(f"/ui/runs/{s.run_id}").text
    # Every task can be chosen; the failed ones are chosen to start with.
    assert re.search(r'name="task" value="data-enrichment" checked', page)
    assert re.search(r'name="task" value="raw-data-ingestion">', page)
    unknown = console.post_form(
        operator, f"/ui/runs/{s.run_id}", f"/ui/runs/{s.run_id}/repair", {"task": "no-such"}
    )
    assert unknown.status_code == 422
    assert "no-such" in unknown.text
    with console.sessions() as session:
        run = session.get(Run, s.run_id)
        assert run is not None and run.status == "failed" and run.repair_tasks is None
    chosen = console.post_form(
        operator,
        f"/ui/runs/{s.run_id}",
        f"/ui/runs/{s.run_id}/repair",
        {"task": "customer-data-processing"},
    )
    assert chosen.status_code == 303
    with console.sessions() as session:
        run = session.get(Run, s.run_id)
        assert run is not None
        assert (run.status, run.repair_tasks) == ("retrying", ["customer-data-processing"])
