"""Render an alert payload as a Slack or Teams message (``generic`` is the payload itself).

Slack incoming webhooks take ``{"text", "blocks"}`` (Block Kit); Teams (Workflows and
the older connector webhooks) takes a ``message`` whose attachment is an Adaptive Card.
Both are built to their documented limits (Slack: header text 150 characters, section
text 3,000, at most 10 fields of 2,000, 50 blocks; button text 75; Adaptive Card 1.4,
which every Teams client renders), because a message over a limit is refused with a
4xx and the alert would be dead-lettered for its formatting.

Slack reads ``&``, ``<`` and ``>`` in ``mrkdwn`` and in the top-level ``text`` as its
control characters: ``<!channel>`` in an error message would page a whole channel and
``<https://evil|click>`` would disguise a link. Every such field built from data is
escaped (``_slack_text``). ``plain_text`` (the header, button labels) is not parsed for
mentions or links and is sent as written.

Payloads are read defensively: they are stored on delivery rows and may come from an
older version of the payload builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.alerts._event_facts import detail_facts, event_label

_SLACK_HEADER_CHARS = 150
_SLACK_TEXT_CHARS = 3000
_SLACK_FIELD_CHARS = 2000
_SLACK_BUTTON_CHARS = 75
_LISTED_TASKS = 5
_ERROR_LINES_CHARS = 500
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def render_chat_message(payload: Mapping[str, Any], *, format: str) -> Any:
    if format == "slack":
        return slack_message(payload)
    if format == "teams":
        return teams_message(payload)
    return dict(payload)


def headline(payload: Mapping[str, Any]) -> str:
    """One line a person can triage from: state, workflow (or job), run, first failing
    task."""
    run = section(payload, "run")
    workflow = subject(payload)
    event_type = str(payload.get("event_type", "alert"))
    # A run's end leads with its state; any other event with what happened.
    label = event_label(payload)
    state = label or run.get("result_state") or event_type
    text = f"{state}: {workflow}"
    if run.get("id"):
        text += f" run {run['id']}"
        if isinstance(run.get("attempt"), int) and run["attempt"] > 1:
            text += f" (attempt {run['attempt']})"
    elif section(payload, "job") and run.get("databricks_run_id"):
        # A job Lockgate did not start: its run is known by its Databricks id only.
        text += f" run {run['databricks_run_id']}"
    tasks = payload.get("failed_tasks") or []
    if tasks and isinstance(tasks[0], Mapping):
        first = tasks[0]
        error = first_line(first.get("error")) or first.get("result_state") or ""
        text += f" - {first.get('task_key', '?')}: {error}"
    elif not run:
        detail = section(payload, "detail")
        reason = detail.get("reason") or detail.get("message")
        text = f"{label or event_type}: {workflow}" + (f" - {first_line(reason)}" if reason else "")
    return one_line(text)


def subject(payload: Mapping[str, Any]) -> str:
    """What the alert is about: the workflow, else the Databricks job, by name."""
    workflow = section(payload, "workflow").get("name")
    if workflow:
        return str(workflow)
    job = section(payload, "job")
    if job.get("name") or job.get("id") is not None:
        return f"job {job.get('name') or job.get('id')}"
    return "no workflow"


def facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    run = section(payload, "run")
    trigger = section(payload, "trigger")
    alert = section(payload, "alert")
    pairs = [
        ("Event", payload.get("event_type")),
        ("Workflow", section(payload, "workflow").get("name")),
        ("Job", _job_text(section(payload, "job"))),
        ("Run", run.get("id")),
        ("Attempt", run.get("attempt")),
        ("State", run.get("result_state")),
        ("Duration", duration_text(run.get("duration_seconds"))),
        ("Trigger", _trigger_text(trigger)),
        ("Databricks run", run.get("databricks_run_id")),
        ("Occurrences", alert.get("occurrences") if (alert.get("occurrences") or 1) > 1 else None),
    ]
    return [(label, str(value)) for label, value in pairs if value not in (None, "")]


def links(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    run = section(payload, "run")
    found = [
        ("Open in Lockgate", run.get("lockgate_url")),
        ("Open in Databricks", run.get("run_page_url")),
    ]
    return [(title, str(url)) for title, url in found if url]


def slack_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    title = headline(payload)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(_cut(title, _SLACK_HEADER_CHARS))},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _slack_text(f"*{label}*\n{value}", _SLACK_FIELD_CHARS)}
                for label, value in facts(payload)[:10]
            ],
        },
    ]
    event_lines = "\n".join(f"*{label}:* {value}" for label, value in detail_facts(payload))
    if event_lines:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _slack_text(event_lines, _SLACK_TEXT_CHARS)},
            }
        )
    task_lines = _task_lines(payload, code="```")
    if task_lines:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _slack_text(task_lines, _SLACK_TEXT_CHARS)},
            }
        )
    buttons = [
        {
            "type": "button",
            "text": _plain(_cut(title_text, _SLACK_BUTTON_CHARS)),
            "url": url,
            "action_id": f"open-{index}",
        }
        for index, (title_text, url) in enumerate(links(payload))
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Sent by Lockgate"}]})
    # ``text`` is the notification and screen-reader fallback Slack asks for.
    return {"text": _slack_text(title, _SLACK_TEXT_CHARS), "blocks": blocks}


def teams_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": headline(payload),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": label, "value": value}
                for label, value in facts(payload) + detail_facts(payload)
            ],
        },
    ]
    task_lines = _task_lines(payload, code="")
    if task_lines:
        body.append(
            {"type": "TextBlock", "text": task_lines, "wrap": True, "fontType": "Monospace"}
        )
    card = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": title, "url": url} for title, url in links(payload)
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}
        ],
    }


def _task_lines(payload: Mapping[str, Any], *, code: str) -> str:
    tasks = [t for t in payload.get("failed_tasks") or [] if isinstance(t, Mapping)]
    if not tasks:
        return ""
    total = payload.get("failed_task_count", len(tasks))
    lines = [f"Failed tasks ({total}):"]
    for task in tasks[:_LISTED_TASKS]:
        lines.append(f"• {task.get('task_key', '?')} [{task.get('result_state', '?')}]")
        error = task.get("error")
        if error:
            lines.append(f"{code}{_cut(str(error), _ERROR_LINES_CHARS)}{code}")
    if isinstance(total, int) and total > _LISTED_TASKS:
        lines.append(f"… and {total - _LISTED_TASKS} more")
    return "\n".join(lines)


def _job_text(job: Mapping[str, Any]) -> str | None:
    name, ident, workspace = job.get("name"), job.get("id"), job.get("workspace")
    if not name and ident is None:
        return None
    text = f"{name} (job {ident})" if name and ident is not None else str(name or ident)
    return f"{text} in {workspace}" if workspace else text


def _trigger_text(trigger: Mapping[str, Any]) -> str | None:
    source, name = trigger.get("source"), trigger.get("name")
    if source and name:
        return f"{source} {name}"
    return source or None


def duration_text(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def section(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def first_line(text: Any) -> str:
    if not text:
        return ""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    # Python tracebacks end with the exception; that is the line a person wants.
    if lines and lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0] if lines else ""


def one_line(text: str) -> str:
    return " ".join(text.split())


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_text(text: str, limit: int) -> str:
    """``text`` escaped for mrkdwn, then cut to ``limit`` without splitting an entity."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    # The longest entity is "&amp;": a "&" in the last four characters may be cut short.
    amp = cut.find("&", max(len(cut) - 4, 0))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"
