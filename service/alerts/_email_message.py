"""Render an alert payload (``service.alerts._content``) as an email.

Rendering reads the payload defensively (``.get`` with defaults): payloads are stored on
delivery rows and may have been written by an older version of the policy.

A subscription's mail carries RFC 8058 one-click unsubscribe headers and the same link in
its footer. A workflow's inline recipients get neither: no subscription exists for them to
leave (the workflow's owners edit its list), so the footer says where the address comes
from instead; a List-Unsubscribe that could not unsubscribe would be a false promise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from html import escape
from typing import Any

from service.alerts._chat_formats import facts, headline, links, section
from service.alerts._errors import DeliveryError
from service.alerts._event_facts import detail_facts

_MAX_SUBJECT_CHARS = 200
_LINE_BREAKS = re.compile(r"[\r\n]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")
# Headers fold at whitespace; a List-Unsubscribe URL has none, and at the default 78
# columns the library would turn it into RFC 2047 encoded-words, which mail clients do
# not read as a URL. RFC 5322 allows lines of up to 998 characters.
MAIL_POLICY = policy.default.clone(max_line_length=998)


def render_email(
    payload: Mapping[str, Any],
    *,
    to: str,
    sender: str,
    delivery_id: str,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
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
    message["X-Lockgate-Run-Id"] = _one_line(str(section(payload, "run").get("id") or ""))
    job_id = section(payload, "job").get("id")
    if job_id is not None:
        message["X-Lockgate-Job-Id"] = _one_line(str(job_id))
    if unsubscribe_url is not None:
        # RFC 2369 + RFC 8058: mail clients show an "Unsubscribe" button that POSTs
        # "List-Unsubscribe=One-Click" to the URL, with no cookies and no page to read.
        message["List-Unsubscribe"] = f"<{_one_line(unsubscribe_url)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    why = _why_this_address(payload, subscribed=unsubscribe_url is not None)
    plain, html_footer = [why] if why else [], [escape(why)] if why else []
    if unsubscribe_url is not None:
        plain.append(f"Unsubscribe: {unsubscribe_url}")
        html_footer.append(f'<a href="{escape(unsubscribe_url, quote=True)}">Unsubscribe</a>')
    body = render_body(payload, delivery_id=delivery_id)
    message.set_content(body + (" ".join(plain) + "\n" if plain else ""))
    message.add_alternative(
        render_html(payload, delivery_id=delivery_id, footer_html=" ".join(html_footer)),
        subtype="html",
    )
    return message


def _why_this_address(payload: Mapping[str, Any], *, subscribed: bool) -> str:
    if subscribed:
        channel = section(payload, "alert").get("channel")
        return f"This address is subscribed to channel {channel}." if channel else ""
    workflow = section(payload, "workflow").get("name")
    if workflow:
        return (
            f"This address is in the alert settings of workflow {workflow}; "
            "its owners can remove it."
        )
    return ""


def render_subject(payload: Mapping[str, Any]) -> str:
    # Header values must not carry line breaks (they would inject headers).
    return _one_line(f"[Lockgate] {headline(payload)}")[:_MAX_SUBJECT_CHARS]


def render_body(payload: Mapping[str, Any], *, delivery_id: str) -> str:
    lines = [headline(payload), ""]
    lines += [f"{label + ':':<16}{value}" for label, value in _email_facts(payload)]
    lines += ["", *_failed_task_lines(payload)]
    lines += [""] + [f"{title}: {url}" for title, url in links(payload)]
    lines += ["", "-- ", f"Sent by Lockgate ({payload.get('event_type')}, delivery {delivery_id})."]
    return "\n".join(lines) + "\n"


def render_html(payload: Mapping[str, Any], *, delivery_id: str, footer_html: str = "") -> str:
    """The same content as the plain part; every value escaped (error text is user data)."""
    rows = "".join(
        f"<tr><th align='left'>{escape(label)}</th><td>{escape(value)}</td></tr>"
        for label, value in _email_facts(payload)
    )
    tasks = [t for t in payload.get("failed_tasks") or [] if isinstance(t, Mapping)]
    task_items = "".join(
        f"<li><b>{escape(str(t.get('task_key', '?')))}</b> "
        f"[{escape(str(t.get('result_state', '?')))}]"
        + (f"<pre>{escape(str(t['error']))}</pre>" if t.get("error") else "")
        + "</li>"
        for t in tasks
    )
    link_items = " | ".join(
        f'<a href="{escape(url, quote=True)}">{escape(title)}</a>' for title, url in links(payload)
    )
    parts = [
        f"<h2>{escape(headline(payload))}</h2>",
        f"<table>{rows}</table>",
        f"<h3>Failed tasks ({len(tasks)})</h3><ul>{task_items}</ul>" if tasks else "",
        f"<p>{link_items}</p>" if link_items else "",
        f"<p><small>Sent by Lockgate ({escape(str(payload.get('event_type')))}, "
        f"delivery {escape(delivery_id)}).</small></p>",
        f"<p><small>{footer_html}</small></p>" if footer_html else "",
    ]
    return "<html><body>" + "".join(parts) + "</body></html>\n"


def _email_facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    run = section(payload, "run")
    extra = [
        ("State message", run.get("state_message")),
        ("Started", run.get("started_at")),
        ("Ended", run.get("ended_at")),
    ]
    run_facts = [(label, str(value)) for label, value in extra if value]
    return facts(payload) + run_facts + detail_facts(payload)


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
