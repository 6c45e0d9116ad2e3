"""Rendering console pages: one Jinja2 environment (autoescape on for every template),
and one function every HTML response goes through, so every page carries the same
security headers.

What a page shows is attacker-controlled (webhook payloads, task errors, workflow
names), so nothing is marked safe by hand: templates print values, Jinja escapes them,
and the only markup made in Python (the DAG and Gantt SVG) is built from escaped parts
(``markupsafe.escape``) in the modules that draw them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# No inline script or style anywhere: scripts and styles come from /ui/static only, so an
# injected <script> or on*= handler that escaped escaping still would not run. The live
# stream and fragments are same-origin (connect-src 'self'); nothing may frame the console.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages show live state and who is signed in: never from a shared cache.
    "Cache-Control": "no-store",
}


def secure_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _when(value: datetime | None, zone: str | None = None) -> str:
    """A UTC time as ``2026-11-25 06:00:00 UTC``, or in the named zone."""
    if value is None:
        return "—"
    if zone:
        try:
            local = value.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            local = value.astimezone(UTC)
        return local.strftime("%Y-%m-%d %H:%M:%S %Z")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _safe_url(value: str | None) -> str | None:
    """Links to places outside the console (Databricks run pages) only when they are
    http(s): an escaped ``javascript:`` URL is still a script in an href."""
    if not value:
        return None
    scheme = urlsplit(value).scheme.lower()
    return value if scheme in ("http", "https") else None


def _state_class(state: str | None) -> str:
    """A CSS class for a state word (colour is only ever beside the word itself)."""
    return "state-" + "".join(c if c.isalnum() else "-" for c in (state or "none").lower())


def _excerpt(text: str | None, limit: int = 400) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[:limit] + " …"


def build_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        when=_when,
        iso=_iso,
        duration=_duration,
        safe_url=_safe_url,
        state_class=_state_class,
        excerpt=_excerpt,
    )
    return environment


def _environment(request: Request) -> Environment:
    """One environment per app (templates compile once), made on first use."""
    environment: Environment | None = getattr(request.app.state, "ui_templates", None)
    if environment is None:
        environment = build_environment()
        request.app.state.ui_templates = environment
    return environment


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Renders a template into an HTML response with the console's security headers.

    Every template sees ``request``, ``console`` (the signed-in session or None) and
    ``csrf_token`` (the session's, for state-changing forms)."""
    console = getattr(request.state, "console", None)
    values: dict[str, Any] = {
        "request": request,
        "console": console,
        "csrf_token": console.csrf_token if console is not None else "",
        "flash": None,
    }
    values.update(context or {})
    body = _environment(request).get_template(template).render(values)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    secure_headers(response)
    return response
