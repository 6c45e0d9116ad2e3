"""Every page answers for a seeded store; what attackers control (a webhook payload, a
task error, a workflow name, an alert's error) comes out escaped on every page that
shows it; payload secrets are masked; the ETL run's graph has its 7 tasks and 7
labelled dependencies."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from markupsafe import escape

from service.runs.task_graph import task_graph
from service.store.models import Run, Workflow
from service.store.repositories import workflows as workflows_repo
from service.workflows import parse_workflow
from tests.factories import simple_workflow
from tests.ui.conftest import Console
from tests.ui.seed import PLANT, SECRET_IN_PAYLOAD, Seeded, etl_source, seed

ESCAPED = str(escape(PLANT))  # &lt;script&gt;alert(&#39;planted&#39;)&lt;/script&gt;


def _pages(s: Seeded) -> dict[str, str]:
    evil = quote(s.evil_workflow, safe="")
    return {
        "overview": "/ui",
        "runs": "/ui/runs",
        "runs-filtered": f"/ui/runs?workflow={evil}",
        "run": f"/ui/runs/{s.run_id}",
        "run-fragment": f"/ui/runs/{s.run_id}?fragment=true",
        "evil-run": f"/ui/runs/{s.evil_run_id}",
        "rerun": f"/ui/runs/{s.run_id}/rerun",
        "events": "/ui/events",
        "event": f"/ui/events/{s.event_id}",
        "event-test": "/ui/events-test",
        "workflows": "/ui/workflows",
        "workflow": f"/ui/workflows/{s.workflow}",
        "evil-workflow": f"/ui/workflows/{evil}",
        "draft": "/ui/workflows-draft",
        "alerts": "/ui/alerts",
        "alert": f"/ui/alerts/{s.delivery_id}",
    }


def _escaped_everywhere(text: str) -> None:
    # The planted markup never appears as markup; its escaped text may.
    assert PLANT not in text
    assert "<script>alert" not in text
    assert not re.search(r"<script(?![^>]*src=\"/ui/static/console\.js\")", text)


def test_every_page_answers_and_escapes_what_it_shows(console: Console) -> None:
    s = seed(console.sessions)
    client = console.signed_in("read")
    shown: dict[str, bool] = {}
    for name, path in _pages(s).items():
        response = client.get(path)
        assert response.status_code == 200, (name, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        _escaped_everywhere(response.text)
        shown[name] = ESCAPED in response.text or str(escape(s.evil_workflow)) in response.text
    # The pages that show planted text show it escaped (so the test is not vacuous):
    # the workflow name (runs, workflows), the task error (run), the payload (event),
    # the alert's error (alerts, alert).
    for name in (
        "runs",
        "runs-filtered",
        "run",
        "evil-run",
        "event",
        "workflows",
        "evil-workflow",
        "alerts",
        "alert",
        "overview",
    ):
        assert shown[name], f"{name} does not show the planted text at all"


def _dag_of(page: str) -> tuple[list[str], list[tuple[str, str]]]:
    svg = page[
        page.index('<svg class="dag"') : page.index("</svg>", page.index('<svg class="dag"'))
    ]
    nodes = re.findall(r'class="dag-node [^"]+" data-task="([^"]+)">', svg)
    edges = re.findall(r'<g class="dag-edge" data-from="([^"]+)" data-to="([^"]+)">', svg)
    return nodes, edges


def test_a_run_page_draws_the_graph_the_run_was_submitted_with(console: Console) -> None:
    s = seed(console.sessions)
    with console.sessions.begin() as session:
        run = session.get_one(Run, s.run_id)
        run.task_graph = task_graph(parse_workflow(etl_source()).to_job_settings())
        # Since then the workflow was cut down to one task.
        workflows_repo.replace_workflow_source(
            session,
            workflow=session.get_one(Workflow, run.workflow_id),
            source=parse_workflow(simple_workflow("comprehensive-etl-pipeline")).source,
        )
    nodes, edges = _dag_of(console.signed_in("read").get(f"/ui/runs/{s.run_id}").text)
    assert len(nodes) == 7 and "only" not in nodes
    assert len(edges) == 7
    assert ("raw-data-ingestion", "customer-data-processing") in edges


def test_the_event_payload_is_shown_with_secrets_masked(console: Console) -> None:
    s = seed(console.sessions)
    page = console.signed_in("read").get(f"/ui/events/{s.event_id}").text
    assert SECRET_IN_PAYLOAD not in page
    assert "&#34;api_key&#34;: &#34;***&#34;" in page or '"api_key": "***"' in html.unescape(page)
    assert "2026-11-25" in page  # the rest is shown


def test_the_etl_run_graph_has_7_tasks_and_7_labelled_edges(console: Console) -> None:
    s = seed(console.sessions)
    page = console.signed_in("read").get(f"/ui/runs/{s.run_id}").text
    svg = page[
        page.index('<svg class="dag"') : page.index("</svg>", page.index('<svg class="dag"'))
    ]
    nodes = re.findall(r'<a href="[^"]*" class="dag-node ([^"]+)" data-task="([^"]+)">', svg)
    assert len(nodes) == 7
    states = dict((task, cls) for cls, task in nodes)
    assert states["data-enrichment"] == "state-failed"
    # Each node names its state in text, not only by its colour.
    assert re.search(r'class="node-state">FAILED</text>', svg)
    assert len(re.findall(r'class="node-state">SUCCESS</text>', svg)) == 4
    edges = re.findall(
        r'<g class="dag-edge" data-from="([^"]+)" data-to="([^"]+)"><title>([^<]+)</title>', svg
    )
    assert len(edges) == 7
    assert ("raw-data-ingestion", "customer-data-processing") in {(a, b) for a, b, _ in edges}
    for source, target, title in edges:
        assert title.startswith(f"{source} → {target}: runs if ALL_SUCCESS")
    # The timeline has a bar for the attempt and for each task that started.
    gantt = page[page.index('<svg class="gantt"') :]
    assert gantt.count('class="gantt-row gantt-task') == 5
    assert gantt.count('class="gantt-row gantt-attempt') == 1
    # The Databricks link, the trigger event, the attempt and the alert are all there.
    assert 'href="http://127.0.0.1:8091/#job/7/run/70"' in page
    assert f'href="/ui/events/{s.event_id}"' in page
    assert "no retries left" in page
    assert f'href="/ui/alerts/{s.delivery_id}"' in page


def test_a_javascript_link_from_databricks_is_not_made_a_link(console: Console) -> None:
    from service.store.models import Run

    s = seed(console.sessions)
    with console.sessions.begin() as session:
        run = session.get(Run, s.run_id)
        assert run is not None
        run.run_page_url = "javascript:alert(1)"
    page = console.signed_in("read").get(f"/ui/runs/{s.run_id}").text
    assert "javascript:" not in page
