"""Slack and Teams payloads checked against their documented shapes, and sent for real.

Slack (Block Kit, incoming webhooks): a top-level ``text`` fallback and ``blocks``;
header text is plain_text of at most 150 characters; a section has ``text`` (at most
3,000) and/or ``fields`` (at most 10, each at most 2,000); an actions block holds
buttons with plain_text ``text`` (at most 75), a ``url`` and unique ``action_id``; at
most 50 blocks. Teams (Workflows / connector webhooks): ``{"type": "message",
"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content":
AdaptiveCard}]}``, the card with ``$schema``, ``type: AdaptiveCard``, a ``version``, and
``body`` elements of known types (TextBlock needs ``text``; FactSet needs ``facts`` of
``title``/``value`` strings); ``Action.OpenUrl`` needs ``title`` and ``url``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from service.alerts import deliver, verify_signature
from service.alerts._chat_formats import _slack_text, slack_message, teams_message
from service.settings import Settings
from tests.alerts.conftest import SIGNING_SECRET, HTTPReceiver


def check_slack(message: dict[str, Any]) -> None:
    assert set(message) == {"text", "blocks"}
    assert isinstance(message["text"], str) and 0 < len(message["text"]) <= 3000
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    action_ids: list[str] = []
    for block in blocks:
        kind = block["type"]
        assert kind in {"header", "section", "actions", "context", "divider"}
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(block["text"]["text"]) <= 3000
            for item in block.get("fields", []):
                assert item["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(item["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button"
                assert button["text"]["type"] == "plain_text"
                assert 0 < len(button["text"]["text"]) <= 75
                assert button["url"].startswith(("http://", "https://"))
                action_ids.append(button["action_id"])
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
    assert len(action_ids) == len(set(action_ids))


def check_teams(message: dict[str, Any]) -> None:
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard"
    assert card["version"] in {"1.0", "1.2", "1.3", "1.4", "1.5"}
    assert card["body"]
    for element in card["body"]:
        assert element["type"] in {"TextBlock", "FactSet", "Container", "ColumnSet"}
        if element["type"] == "TextBlock":
            assert isinstance(element["text"], str) and element["text"]
        if element["type"] == "FactSet":
            for fact in element["facts"]:
                assert set(fact) == {"title", "value"}
                assert all(isinstance(v, str) for v in fact.values())
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl"
        assert action["title"] and action["url"].startswith(("http://", "https://"))


def huge(payload: dict[str, Any]) -> dict[str, Any]:
    """The documented limits under pressure: long names, 60 failing tasks, stack traces."""
    return {
        **payload,
        "workflow": {"name": "w" * 400},
        "failed_task_count": 60,
        "failed_tasks": [
            {"task_key": f"task-{i}", "result_state": "FAILED", "error": "x\n" * 2000}
            for i in range(60)
        ],
    }


@pytest.mark.parametrize("shape", ["plain", "huge", "minimal"])
def test_slack_and_teams_shapes(shape: str, failed_run_payload: dict[str, Any]) -> None:
    payload = {
        "plain": failed_run_payload,
        "huge": huge(failed_run_payload),
        "minimal": {"event_type": "trigger.rejected"},
    }[shape]
    check_slack(slack_message(payload))
    check_teams(teams_message(payload))


def test_slack_message_says_what_a_person_needs(failed_run_payload: dict[str, Any]) -> None:
    message = slack_message(failed_run_payload)
    text = json.dumps(message)
    assert message["text"].startswith("FAILED: comprehensive-etl-pipeline run run-7f3a")
    assert "ValueError: 17 rows without customer_id" in text
    urls = [e["url"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert urls == [
        "https://lockgate.example.com/api/v1/runs/run-7f3a",
        "http://127.0.0.1:8091/#job/7/run/4242",
    ]


@pytest.mark.parametrize(("fmt", "check"), [("slack", check_slack), ("teams", check_teams)])
def test_chat_formats_are_sent_signed(
    fmt: str,
    check: Callable[[dict[str, Any]], None],
    http_receiver: HTTPReceiver,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
) -> None:
    deliver(
        channel="webhook",
        target=http_receiver.url(f"/{fmt}"),
        payload=failed_run_payload,
        delivery_id=f"dlv-{fmt}",
        settings=make_settings(),
        format=fmt,
    )
    [request] = http_receiver.requests
    check(json.loads(request.body))
    assert verify_signature(
        SIGNING_SECRET,
        request.headers["webhook-id"],
        request.headers["webhook-timestamp"],
        request.body,
        request.headers["webhook-signature"],
    )


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the top-level text and each mrkdwn object."""
    found = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return found


def test_slack_text_from_data_is_escaped(failed_run_payload: dict[str, Any]) -> None:
    hostile = "<!channel> see <https://evil.example|click> & <@U123>"
    payload = {
        **failed_run_payload,
        "workflow": {"name": "etl <!here>"},
        "failed_tasks": [{"task_key": "t<1>", "result_state": "FAILED", "error": hostile}],
        "detail": {"reason": "<!subteam^S1>"},
        "suppressed_since_last_alert": 2,
    }
    message = slack_message(payload)
    check_slack(message)
    texts = mrkdwn_texts(message)
    assert len(texts) >= 4  # text, fields, the detail section, the task section
    for text in texts:
        # No control sequence survives: no mention, no disguised link.
        assert "<" not in text and ">" not in text, text
    joined = "\n".join(texts)
    assert "&lt;!channel&gt; see &lt;https://evil.example|click&gt; &amp; &lt;@U123&gt;" in joined
    assert "etl &lt;!here&gt;" in message["text"]
    assert "&lt;!subteam^S1&gt;" in joined
    # plain_text is shown as written (Slack parses no mentions or links there).
    header = message["blocks"][0]
    assert header["text"]["type"] == "plain_text" and "etl <!here>" in header["text"]["text"]


@pytest.mark.parametrize("offset", range(6))
def test_escaping_never_splits_an_entity_at_a_limit(offset: int) -> None:
    # Every position of the cut relative to an "&amp;", "&lt;" or "&gt;".
    text = _slack_text("x" * offset + "&<>" * 100, 40)
    assert len(text) <= 40 and text.endswith("…")
    body = text.removesuffix("…")
    for entity in ("&amp;", "&lt;", "&gt;"):
        body = body.replace(entity, "")
    assert "&" not in body and set(body) <= {"x"}
