"""Render an alert payload (``service.policies.alerting.build_payload``) as an email.

Rendering reads the payload defensively (``.get`` with defaults): payloads are stored on
delivery rows and may have been written by an older version of the policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from typing import Any

from service.alerts._errors import DeliveryError

_LINE_BREAKS = re.compile(r"[\r\n]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def render_email(
    payload: Mapping[str, Any], *, to: str, sender: str, delivery_id: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = render_subject(payload)
    message["From"] = _address(sender, role="sender")
    message["To"] = _address(to, role="recipient")
    message["Date"] = formatdate(usegmt=True)
    # One Message-ID per delivery (not per attempt), so a mail system or a person can tell
    # a retried send of the same alert from a new alert.
    message["Message-ID"] = f"<{safe_delivery_id(delivery_id)}@{_domain(sender)}>"
    # RFC 3834: stops vacation responders from answering alert mail.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Lockgate-Event"] = _one_line(str(payload.get("event_type", "")))
    message["X-Lockgate-Run-Id"] = _one_line(str(_section(payload, "run").get("id", "")))
    message.set_content(render_body(payload, delivery_id=delivery_id))
    return message


def render_subject(payload: Mapping[str, Any]) -> str:
    run = _section(payload, "run")
    workflow = _section(payload, "workflow").get("name", "unknown workflow")
    state = run.get("result_state", "UNKNOWN")
    # Header values must not carry line breaks (they would inject headers).
    return _one_line(f"[Lockgate] {state}: {workflow} run {run.get('id', '?')}")


def render_body(payload: Mapping[str, Any], *, delivery_id: str) -> str:
    run = _section(payload, "run")
    trigger = _section(payload, "trigger")
    workflow = _section(payload, "workflow").get("name", "unknown workflow")
    state = run.get("result_state", "UNKNOWN")
    lines = [f"Workflow {workflow}: run {run.get('id', '?')} ended {state}.", ""]
    fields = [
        ("Result", state),
        ("State message", run.get("state_message")),
        ("Run", run.get("id")),
        ("Databricks run", run.get("databricks_run_id")),
        ("Started", run.get("started_at")),
        ("Ended", run.get("ended_at")),
        ("Duration", _duration(run.get("duration_seconds"))),
        ("Trigger", _trigger(trigger)),
    ]
    lines += [f"{label + ':':<16}{value}" for label, value in fields if value not in (None, "")]
    lines += ["", *_failed_task_lines(payload)]
    run_page_url = run.get("run_page_url")
    lines += ["", f"Run page: {run_page_url}" if run_page_url else "Run page: not available"]
    lines += ["", "-- ", f"Sent by Lockgate ({payload.get('event_type')}, delivery {delivery_id})."]
    return "\n".join(lines) + "\n"


def safe_delivery_id(delivery_id: str) -> str:
    return _UNSAFE_ID_CHARS.sub("_", delivery_id) or "delivery"


def _failed_task_lines(payload: Mapping[str, Any]) -> list[str]:
    tasks = payload.get("failed_tasks") or []
    total = payload.get("failed_task_count", len(tasks))
    if not tasks:
        return ["No failed tasks."]
    lines = [f"Failed tasks ({total}):"]
    for task in tasks:
        lines.append(f"  - {task.get('task_key', '?')} [{task.get('result_state', '?')}]")
        error = task.get("error")
        lines += [f"      {line}" for line in str(error).splitlines()] if error else []
    if isinstance(total, int) and total > len(tasks):
        lines.append(f"  ... and {total - len(tasks)} more")
    return lines


def _trigger(trigger: Mapping[str, Any]) -> str | None:
    source, event_id = trigger.get("source"), trigger.get("event_id")
    if source and event_id:
        return f"{source} (event {event_id})"
    return source or (f"event {event_id}" if event_id else None)


def _duration(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def _section(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


def envelope_address(text: str) -> str:
    """The bare address of ``Name <addr>`` or ``addr``, as SMTP's MAIL FROM / RCPT TO want."""
    return _address(text, role="address").addr_spec


def _address(text: str, *, role: str) -> Address:
    parsed = getaddresses([text])
    try:
        # Exactly one address: "a@x, b@y" as one target must not become a silent partial send.
        if len(parsed) != 1 or not parsed[0][1] or "\n" in text or "\r" in text:
            raise ValueError("not exactly one address")
        display_name, addr_spec = parsed[0]
        return Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError) as exc:
        # A malformed address will never be accepted: dead-letter, don't retry.
        raise DeliveryError(f"invalid {role} address {text!r}", transient=False) from exc


def _domain(sender: str) -> str:
    return _address(sender, role="sender").domain or "lockgate"
