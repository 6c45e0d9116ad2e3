"""Errors a console page answers with: an HTML page with the status and a sentence a
person can act on (the API's problem+json is for programs; the console speaks HTML)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from service.api.problems import Problem


class UiError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail

    @classmethod
    def from_problem(cls, problem: Problem) -> UiError:
        """An API route's refusal, shown as the console's (same status, same words)."""
        detail = problem.detail or ""
        if problem.errors:
            detail = "; ".join(f"{e['path']}: {e['message']}" for e in problem.errors[:5])
        return cls(problem.status, problem.title, detail)


class SignInRequired(Exception):
    """No (valid) console session: pages send the browser to sign in, streams get 401."""


async def ui_error_page(request: Request, exc: Exception) -> Response:
    from service.ui._render import render

    assert isinstance(exc, UiError)
    return render(
        request,
        "error.html",
        {"status": exc.status, "title": exc.title, "detail": exc.detail},
        status_code=exc.status,
    )


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    from service.ui._render import render, secure_headers

    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response: Response = RedirectResponse(
            f"/ui/sign-in?{urlencode({'next': target})}", status_code=303
        )
        return secure_headers(response)
    return render(
        request,
        "error.html",
        {"status": 401, "title": "Sign in first", "detail": "your console session has ended"},
        status_code=401,
    )
