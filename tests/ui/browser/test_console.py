"""The console as a person uses it, in headless Chromium against Lockgate end to end:
sign in, trigger the ETL example through its hook and watch its run page turn from
running to succeeded without a reload, with the 7-task DAG; subscribe an address (the
confirmation mail reaches the test's SMTP server, its link activates it); replay the
event from the ledger into a run whose task fails, and repair it from the run page; the
failure's alert reaches the new subscriber, who unsubscribes with one click. Screenshots
of the overview, a run page and the ledger are saved (see conftest)."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from service.embedded.bootstrap import install_example
from tests.e2e.conftest import Lockgate
from tests.factories import signed_post
from tests.ui.browser.conftest import ConsoleHarness, link_in, subject_has

ETL_TASKS = 7
RUN_TIMEOUT = 150.0
ADDRESS = "dee@example.com"


def _run_of(lockgate: Lockgate, event_id: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_id = lockgate.api.get(f"/api/v1/events/{event_id}").json().get("run_id")
        if run_id:
            return str(run_id)
        time.sleep(0.1)
    raise AssertionError(f"event {event_id} made no run\n{lockgate.worker_logs()}")


def _run_state(page: Page) -> Locator:
    """The run's state badge (the first fact of the live region)."""
    return page.locator("#live dl.facts dd .badge").first


def _watch(page: Page, lockgate: Lockgate, until: str, timeout: float = RUN_TIMEOUT) -> list[str]:
    """The states the open page showed, in order, until it shows ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _run_state(page).inner_text().strip()
        if not seen or seen[-1] != text:
            seen.append(text)
        if text == until:
            return seen
        if text in ("failed", "succeeded", "canceled", "error") and text != until:
            raise AssertionError(f"the run ended {text}, not {until}: {seen}")
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {until}: {seen}\n{lockgate.worker_logs()}")


def _prepend_cell(lockgate: Lockgate, notebook: str, cell: str) -> None:
    """A first cell for one of the example's notebooks (read again at each run)."""
    path = lockgate.settings.workspace_dir / "Shared/ETL" / f"{notebook}.py"
    header, _, rest = path.read_text().partition("\n")
    path.write_text(f"{header}\n{cell}\n\n# COMMAND ----------\n\n{rest}")


def _break_the_catalog_task(lockgate: Lockgate, fixed: Path) -> None:
    """update-data-catalog fails until ``fixed`` exists."""
    guard = (
        "import os\n"
        f"if not os.path.exists({str(fixed)!r}):\n"
        "    raise RuntimeError('the data catalog service is down')"
    )
    _prepend_cell(lockgate, "06_update_catalog", guard)


def test_the_console_end_to_end(console_harness: ConsoleHarness, tmp_path: Path) -> None:
    harness, page = console_harness, console_harness.page
    lockgate = harness.lockgate
    example = install_example(lockgate.sessions, lockgate.settings)
    # The local backend runs the example in about a second; validation taking three
    # more keeps "running" on screen long enough to be seen on a slow machine too.
    _prepend_cell(lockgate, "01_data_validation", "import time\ntime.sleep(3)")
    lockgate.start_worker()
    harness.sign_in()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # Trigger the ETL example through its hook; its run page updates live.
    posted = signed_post(
        lockgate.api, example.hook_name, example.hook_secret, b'{"date": "2001-02-03"}'
    )
    assert posted.status_code == 202, posted.text
    event_id = posted.json()["event_id"]
    run_id = _run_of(lockgate, event_id)
    page.goto(f"{harness.url}/ui/runs/{run_id}")
    page.evaluate("window.lockgateNotReloaded = true")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    seen = _watch(page, lockgate, "succeeded")
    assert "running" in seen, seen
    assert page.evaluate("window.lockgateNotReloaded === true"), "the page was reloaded"
    assert navigations == []
    dag = page.locator("svg.dag a.dag-node")
    expect(dag).to_have_count(ETL_TASKS)
    expect(page.locator("svg.dag .node-state").first).not_to_have_text("")
    harness.shoot("console-run")

    # Subscribe an address to a channel; the mailed link activates it.
    assert lockgate.api.post("/api/v1/channels", json={"name": "etl-failures"}).status_code == 201
    team = lockgate.api.post(
        "/api/v1/channels/etl-failures/subscriptions",
        json={"kind": "email", "target": "team@example.com", "event_types": ["run.failed"]},
    )
    assert team.status_code == 201, team.text
    page.goto(f"{harness.url}/ui/subscribe?channel=etl-failures")
    page.get_by_label("Email address").fill(ADDRESS)
    page.get_by_role("button", name="Send confirmation mail").click()
    expect(page.get_by_role("status").filter(has_text="confirmation mail")).to_be_visible()
    harness.shoot("console-subscribe")
    confirmation = harness.wait_for_mail(ADDRESS, subject_has("Confirm your subscription"))
    page.goto(harness.local(link_in(confirmation, "/ui/subscriptions/confirm")))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("main")).to_contain_text(
        f"{ADDRESS} now receives the alerts of channel etl-failures"
    )

    # Replay the event from the ledger; the replayed run fails at update-data-catalog.
    fixed = tmp_path / "catalog-is-back"
    _break_the_catalog_task(lockgate, fixed)
    page.goto(f"{harness.url}/ui/events/{event_id}")
    page.get_by_role("button", name="Replay…").click()
    page.get_by_role("button", name="Yes, replay it").click()
    expect(page.get_by_role("status").filter(has_text="Replayed")).to_be_visible()
    replayed_event = page.url.split("/ui/events/")[1].split("?")[0]
    assert replayed_event != event_id
    replay_run = _run_of(lockgate, replayed_event)
    page.goto(f"{harness.url}/ui/runs/{replay_run}")
    _watch(page, lockgate, "failed")
    expect(page.locator("#task-update-data-catalog")).to_contain_text(
        "the data catalog service is down"
    )

    # The failure's alert reaches the subscriber with a one-click unsubscribe link.
    # (It hears every event of the channel: the replay's start reached it first.)
    alert = harness.wait_for_mail(ADDRESS, lambda m: m["X-Lockgate-Event"] == "run.failed")
    assert "the data catalog service is down" in str(alert["Subject"])
    assert alert["List-Unsubscribe"] is not None
    assert alert["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_link = str(alert["List-Unsubscribe"]).strip("<>")

    # Repair from the run page once the cause is fixed: only the failed task runs again.
    fixed.touch()
    page.get_by_role("button", name="Repair failed tasks").click()
    expect(page.get_by_role("status").filter(has_text="Repair requested")).to_be_visible()
    _watch(page, lockgate, "succeeded")
    run = lockgate.api.get(f"/api/v1/runs/{replay_run}").json()
    assert [a["kind"] for a in run["attempts"]][-1] == "repair", run["attempts"]

    # Unsubscribe with one click: only this subscription goes.
    page.goto(harness.local(unsubscribe_link))
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.locator("main")).to_contain_text(f"{ADDRESS} no longer receives the alerts")
    channel = lockgate.api.get("/api/v1/channels/etl-failures").json()
    assert [s["target"] for s in channel["subscriptions"]] == ["team@example.com"]

    page.goto(f"{harness.url}/ui/events")
    # The hook's event and its replay; the workspace watcher's observations of the runs
    # (source databricks) are listed too once one of its passes has seen them end.
    triggers = page.locator("main table tbody tr").filter(
        has=page.locator('td[data-label="Source"]', has_not_text="databricks")
    )
    expect(triggers).to_have_count(2)
    for listed in (event_id, replayed_event):
        received = f'td[data-label="Received"] a[href="/ui/events/{listed}"]'
        expect(triggers.locator(received)).to_have_count(1)
    harness.shoot("console-ledger")
    page.goto(f"{harness.url}/ui")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    harness.shoot("console-overview")
    refused = [e for e in harness.console_errors if "Content Security Policy" in e]
    assert refused == [], refused
