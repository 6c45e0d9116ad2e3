"""What a key's scopes forbid is not offered as an enabled button, and the server refuses
it anyway when posted by hand (and nothing changes)."""

from __future__ import annotations

import re

from service.store.models import AlertDelivery, Run, TriggerEvent
from tests.ui.conftest import Console
from tests.ui.seed import seed

# (page, action URL template, button text, the scope it needs)
BUTTONS = [
    ("/ui/runs/{run}", "/ui/runs/{run}/repair", "Repair failed tasks", "trigger"),
    ("/ui/runs/{evil_run}", "/ui/runs/{evil_run}/cancel", "Cancel run", "trigger"),
    ("/ui/events/{event}", "/ui/events/{event}/replay", "Replay…", "trigger"),
    ("/ui/runs/{run}/rerun", "/ui/runs/{run}/rerun", "Start the run", "trigger"),
    ("/ui/workflows/{workflow}", "/ui/workflows/{workflow}/schedule", "Pause schedule", "admin"),
    ("/ui/alerts/{delivery}", "/ui/alerts/{delivery}/redeliver", "Redeliver", "admin"),
    ("/ui/alerts", "/ui/channels/etl-failures/test", "Send a test alert", "admin"),
]


def _button(html: str, label: str) -> str:
    found = re.search(r"<button[^>]*>" + re.escape(label) + "</button>", html)
    assert found, f"no {label!r} button"
    return found.group(0)


def _urls(console: Console) -> dict[str, str]:
    s = seed(console.sessions)
    return {
        "run": s.run_id,
        "evil_run": s.evil_run_id,
        "event": s.event_id,
        "workflow": s.workflow,
        "delivery": s.delivery_id,
    }


def _snapshot(console: Console) -> tuple[object, ...]:
    with console.sessions() as session:
        return (
            sorted((r.id, r.status, r.attempt, r.cancel_requested_at) for r in session.query(Run)),
            session.query(TriggerEvent).count(),
            sorted((d.id, d.status) for d in session.query(AlertDelivery)),
        )


def test_a_read_key_sees_every_action_disabled_and_is_refused(console: Console) -> None:
    ids = _urls(console)
    reader = console.signed_in("read")
    before = _snapshot(console)
    for page, action, label, scope in BUTTONS:
        html = reader.get(page.format(**ids)).text
        button = _button(html, label)
        assert "disabled" in button, (page, button)
        assert f"needs the “{scope}” scope" in html
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        fields = {
            "csrf_token": token.group(1),
            "paused": "true",
            "confirm": "yes",
            "name": "d",
            "value": "x",
        }
        refused = reader.post(action.format(**ids), data=fields)
        assert refused.status_code == 403, (action, refused.text[:300])
        assert "this needs the" in refused.text
    assert _snapshot(console) == before


def test_a_trigger_key_may_run_but_not_administer(console: Console) -> None:
    ids = _urls(console)
    operator = console.signed_in("trigger")
    html = operator.get(f"/ui/runs/{ids['run']}").text
    assert "disabled" not in _button(html, "Repair failed tasks")
    html = operator.get(f"/ui/workflows/{ids['workflow']}").text
    assert "disabled" in _button(html, "Pause schedule")
    refused = console.post_form(
        operator,
        f"/ui/workflows/{ids['workflow']}",
        f"/ui/workflows/{ids['workflow']}/schedule",
        {"paused": "true"},
    )
    assert refused.status_code == 403


def test_an_admin_key_has_every_button_enabled(console: Console) -> None:
    ids = _urls(console)
    admin = console.signed_in("admin")
    for page, _action, label, _scope in BUTTONS:
        assert "disabled" not in _button(admin.get(page.format(**ids)).text, label), label
