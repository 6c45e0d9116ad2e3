"""The mail that asks an address to confirm a subscription (double opt-in).

It says who asked (the console user's key name), which channel, until when the link
works, and that ignoring the mail changes nothing. It carries no List-Unsubscribe: the
address is not subscribed to anything yet.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from html import escape

from service.alerts._email_message import MAIL_POLICY, envelope_address, safe_delivery_id


def render_confirmation(
    *,
    to: str,
    sender: str,
    channel: str,
    link: str,
    expires_at: datetime,
    requested_by: str | None,
    message_id: str,
) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    # Channel names are validated on creation, but never trust them in a header.
    message["Subject"] = " ".join(f"[Lockgate] Confirm your subscription to {channel}".split())
    message["From"] = sender
    message["To"] = envelope_address(to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{safe_delivery_id(message_id)}@{_domain(sender)}>"
    message["Auto-Submitted"] = "auto-generated"
    who = f"{requested_by} (a Lockgate console user)" if requested_by else "A Lockgate user"
    until = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{who} asked to send the alerts of channel {channel} to this address.",
        "",
        "To start receiving them, open this link and press Confirm:",
        link,
        "",
        f"The link works until {until}. If you did not expect this mail, ignore it:",
        "nothing will be sent to you.",
    ]
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative(
        "<html><body>"
        f"<p>{escape(who)} asked to send the alerts of channel <b>{escape(channel)}</b> "
        "to this address.</p>"
        f'<p><a href="{escape(link, quote=True)}">Confirm the subscription</a></p>'
        f"<p><small>The link works until {escape(until)}. If you did not expect this mail, "
        "ignore it: nothing will be sent to you.</small></p>"
        "</body></html>\n",
        subtype="html",
    )
    return message


def _domain(sender: str) -> str:
    return envelope_address(sender).rpartition("@")[2] or "lockgate"
