"""The runs list pages newest first by keyset: walking older and then newer visits every
run exactly once, also across runs requested in the same instant; the filters (workflow,
state, trigger source, time range) narrow it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from service.store.models import Run, TriggerEvent, Workflow
from tests.ui.conftest import Console

BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RUNS = 130  # pages of 50: 50, 50, 30


def _seed_runs(console: Console) -> list[str]:
    """Runs in groups of three sharing one requested_at (ties the id must break)."""
    ids: list[str] = []
    with console.sessions.begin() as session:
        a = Workflow(name="alpha", source={"name": "alpha"})
        b = Workflow(name="beta", source={"name": "beta"})
        session.add_all([a, b])
        session.flush()
        for i in range(RUNS):
            workflow = a if i % 2 else b
            event = TriggerEvent(
                source="schedule" if i % 5 == 0 else "webhook",
                source_name="x",
                dedupe_key=f"k{i}",
                workflow_id=workflow.id,
                payload={},
                parameters={},
            )
            session.add(event)
            session.flush()
            run = Run(
                workflow_id=workflow.id,
                trigger_event_id=event.id,
                status="failed" if i % 3 == 0 else "succeeded",
                requested_at=BASE + timedelta(minutes=i // 3),
            )
            session.add(run)
            session.flush()
            ids.append(run.id)
    return ids


def _expected_order(console: Console) -> list[str]:
    with console.sessions() as session:
        rows = session.query(Run.id, Run.requested_at).all()
    return [r.id for r in sorted(rows, key=lambda r: (r.requested_at, r.id), reverse=True)]


def _page(client: httpx.Client, url: str) -> tuple[list[str], str | None, str | None]:
    response = client.get(url)
    assert response.status_code == 200, response.text[:500]
    text = response.text
    ids = re.findall(r'<a href="/ui/runs/([0-9a-f]{32})"><code>', text)
    older = re.search(r'<a rel="next" href="([^"]+)"', text)
    newer = re.search(r'<a rel="prev" href="([^"]+)"', text)
    unescape = lambda m: m.group(1).replace("&amp;", "&") if m else None  # noqa: E731
    return ids, unescape(older), unescape(newer)


def test_paging_older_then_newer_visits_every_run_once(console: Console) -> None:
    _seed_runs(console)
    expected = _expected_order(console)
    client = console.signed_in("read")
    seen: list[list[str]] = []
    url: str | None = "/ui/runs"
    newer_links: list[str | None] = []
    while url:
        ids, older, newer = _page(client, url)
        seen.append(ids)
        newer_links.append(newer)
        url = older
    assert [len(p) for p in seen] == [50, 50, 30]
    assert [i for p in seen for i in p] == expected
    assert newer_links[0] is None and all(newer_links[1:])
    # Back up from the last page: each "newer" page is the page before it, exactly.
    back = newer_links[-1]
    assert back is not None
    ids, _older, newer = _page(client, back)
    assert ids == seen[1]
    assert newer is not None
    ids, _older, newer = _page(client, newer)
    assert ids == seen[0] and newer is None


def test_filters_narrow_the_list(console: Console) -> None:
    _seed_runs(console)
    client = console.signed_in("read")
    with console.sessions() as session:
        rows = (
            session.query(Run.id, Run.status, Run.requested_at, Workflow.name, TriggerEvent.source)
            .join(Workflow, Workflow.id == Run.workflow_id)
            .join(TriggerEvent, TriggerEvent.id == Run.trigger_event_id)
            .all()
        )

    def listed(query: str) -> set[str]:
        found: set[str] = set()
        url: str | None = f"/ui/runs?{query}"
        while url:
            ids, url, _ = _page(client, url)
            found |= set(ids)
        return found

    assert listed("workflow=alpha") == {r.id for r in rows if r.name == "alpha"}
    assert listed("status=failed") == {r.id for r in rows if r.status == "failed"}
    assert listed("source=schedule") == {r.id for r in rows if r.source == "schedule"}
    since, until = BASE + timedelta(minutes=10), BASE + timedelta(minutes=20)
    window = f"since={since:%Y-%m-%dT%H:%M}&until={until:%Y-%m-%dT%H:%M}"
    assert listed(window) == {r.id for r in rows if since <= r.requested_at < until}
    assert listed(f"workflow=beta&status=failed&{window}") == {
        r.id
        for r in rows
        if r.name == "beta" and r.status == "failed" and since <= r.requested_at < until
    }
    assert listed("workflow=nobody") == set()
    assert client.get("/ui/runs?status=exploded").status_code == 400
    assert client.get("/ui/runs?since=yesterday").status_code == 400
    assert client.get("/ui/runs?before=!!").status_code == 400
