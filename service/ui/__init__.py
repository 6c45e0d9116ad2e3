"""The web console: server-rendered pages at ``/ui``, served by the API process.

``mount_console(app)`` adds every console router, the static files and the console's
error pages to an app (``create_app`` calls it). Pages are Jinja2 templates (autoescaped)
under ``templates/``; ``base.html`` is the layout every page extends. Scripts only
enhance: every page reads without JavaScript.

For modules that add pages (self-service subscriptions): ``render`` renders a template
with the console's security headers, ``MaybeSignedIn``/``SignedIn`` give the session,
``CheckedForm`` a CSRF-checked form, and ``UiError`` an HTML error page.
"""

from __future__ import annotations

import importlib.util

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from service.ui import (
    _alerts,
    _auth,
    _entra_sign_in,
    _events,
    _overview,
    _run_actions,
    _runs,
    _stream,
    _task_output,
    _workflows,
)
from service.ui._errors import SignInRequired, UiError, sign_in_redirect, ui_error_page
from service.ui._forms import Form, read_form
from service.ui._render import STATIC_DIR, render, secure_headers
from service.ui._sessions import CheckedForm, ConsoleSession, MaybeSignedIn, SignedIn

CONSOLE_PATH = "/ui"

# Every console router, in matching order. Another module's pages: add its router here.
ROUTERS: list[APIRouter] = [
    _auth.router,
    _entra_sign_in.router,
    _overview.router,
    _stream.router,
    _run_actions.router,
    _runs.router,
    _events.router,
    _workflows.router,
    _alerts.router,
    _task_output.router,
]


def _optional_routers() -> list[APIRouter]:
    """Self-service subscriptions (``service.ui.subscriptions``), when that module is there."""
    if importlib.util.find_spec("service.ui.subscriptions") is None:
        return []
    from service.ui import subscriptions  # type: ignore[attr-defined,unused-ignore]

    return [subscriptions.router]


def mount_console(app: FastAPI) -> None:
    for router in [*ROUTERS, *_optional_routers()]:
        app.include_router(router)
    app.mount(f"{CONSOLE_PATH}/static", StaticFiles(directory=STATIC_DIR), name="ui_static")
    app.add_exception_handler(UiError, ui_error_page)
    app.add_exception_handler(SignInRequired, sign_in_redirect)


__all__ = [
    "CONSOLE_PATH",
    "ROUTERS",
    "CheckedForm",
    "ConsoleSession",
    "Form",
    "MaybeSignedIn",
    "SignedIn",
    "UiError",
    "mount_console",
    "read_form",
    "render",
    "secure_headers",
]
