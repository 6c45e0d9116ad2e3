"""Signing in and out of the console.

Sign in with an API key (the one ``lockgate up`` prints, or one made with POST
/api/v1/keys) or, where an Entra tenant is configured, an Entra ID access token pasted
into the same field: it is verified exactly as the API verifies a bearer token, and the
session ends when the token expires. Where the console has an app registration of its
own, people sign in through Microsoft's page instead (``_entra_sign_in``), and signing
out then visits the tenant's sign-out too.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.api.access import Principal
from service.api.entra import EntraVerifier, InvalidToken
from service.api.keys import KEY_PREFIX, hash_api_key
from service.settings import Settings
from service.store.repositories import api_keys as keys_repo
from service.ui._forms import read_form
from service.ui._render import render, secure_headers
from service.ui._sessions import (
    COOKIE_PATH,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    CheckedForm,
    MaybeSignedIn,
    SignedIn,
    end_session,
    https,
    new_login_token,
    start_session,
    tokens_match,
)

router = APIRouter(prefix="/ui", include_in_schema=False)

MAX_CREDENTIAL_CHARS = 16_384  # an Entra access token is a few kB


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"


def sign_in_page(
    request: Request, *, next_path: str, error: str | None, status_code: int = 200
) -> Response:
    token = new_login_token()
    response = render(
        request,
        "sign_in.html",
        {
            "login_token": token,
            "next_path": next_path,
            "error": error,
            "entra": getattr(request.app.state, "entra", None) is not None,
            "entra_sign_in": request.app.state.settings.console_entra_client_id is not None,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=https(request),
    )
    return response


@router.get("/sign-in", name="ui_sign_in")
def sign_in_form(request: Request, console: MaybeSignedIn, next: str | None = None) -> Response:
    if console is not None:
        return secure_headers(RedirectResponse(safe_next(next), status_code=303))
    return sign_in_page(request, next_path=safe_next(next), error=None)


def _principal_for(request: Request, credential: str) -> tuple[Principal, float | None] | None:
    if credential.startswith(KEY_PREFIX):
        with request.app.state.sessions() as db:
            key = keys_repo.find_active_key(db, key_hash=hash_api_key(credential))
            if key is None:
                return None
            return Principal(
                kind="api_key", name=key.name, scopes=frozenset(key.scopes), key_id=key.id
            ), None
    verifier: EntraVerifier | None = getattr(request.app.state, "entra", None)
    if verifier is None:
        return None
    try:
        claims = verifier.claims(credential)
    except InvalidToken:
        return None
    return verifier.principal_of(claims), float(claims["exp"])  # exp is required


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    if not tokens_match(form.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return sign_in_page(
            request,
            next_path=next_path,
            error="The sign-in form expired; please try again.",
            status_code=403,
        )
    credential = form.get("key").strip()
    found = (
        _principal_for(request, credential)
        if credential and len(credential) <= MAX_CREDENTIAL_CHARS
        else None
    )
    if found is None:
        return sign_in_page(
            request,
            next_path=next_path,
            error="That key is unknown or revoked.",
            status_code=401,
        )
    principal, until = found
    if not principal.allows("read"):
        return sign_in_page(
            request,
            next_path=next_path,
            error="That credential grants no Lockgate scope.",
            status_code=403,
        )
    response = RedirectResponse(next_path, status_code=303)
    start_session(request, response, principal, until=until)
    return secure_headers(response)


@router.post("/sign-out")
def sign_out(request: Request, console: SignedIn, _form: CheckedForm) -> Response:
    settings: Settings = request.app.state.settings
    response: Response = RedirectResponse("/ui/sign-in", status_code=303)
    if console.via == "entra_page" and settings.entra_tenant_id:
        # Signed in on Microsoft's page: sign out there too, or the next person at this
        # browser would be signed in as this one without a word. A page of our own moves
        # on to it: the CSP's form-action 'self' stops a form's redirect to another site.
        target = entra_sign_out_url(settings, return_to=f"{console_base_url(request)}/ui/sign-in")
        response = render(request, "signed_out.html", {"target": target})
    end_session(request, response, console)
    return secure_headers(response)


def console_base_url(request: Request) -> str:
    """Where people reach the console: ``public_url``, else the address they used."""
    settings: Settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/")


def entra_sign_out_url(settings: Settings, *, return_to: str) -> str:
    """The tenant's end-session endpoint (OpenID Connect RP-initiated logout), coming
    back to ``return_to`` (register it as a redirect URI of the app)."""
    authority = f"{settings.entra_authority_host.rstrip('/')}/{settings.entra_tenant_id}"
    return f"{authority}/oauth2/v2.0/logout?" + urlencode({"post_logout_redirect_uri": return_to})
