"""Signing in to the console with Entra ID, through Microsoft's own sign-in page.

OpenID Connect's authorization code flow with PKCE, as a confidential client (the app
registration's client id and secret). MSAL builds the request (state, nonce, PKCE
challenge) and checks the answer against them; the ID token's signature, audience,
issuer and expiry are then checked against the tenant's published keys, as the API
checks bearer tokens. The person's app roles are their scopes; the session ends when the
ID token does.

- The flow in progress lives in Redis for ten minutes, used once, under the hash of a
  random id in a cookie scoped to these two routes. That cookie is SameSite=Lax because
  Microsoft's redirect back is a cross-site navigation, on which a Strict cookie is not
  sent; a code pasted into another browser finds no flow there.
- The callback answers with a page that moves on to the console itself: after a
  cross-site redirect the browser would not send the (Strict) session cookie on a
  redirect that followed it, but does on a navigation the console's own page starts.
- The code comes back in the query, not a form post (which RFC 9700 prefers): a
  cross-site POST would carry no SameSite=Lax cookie, leaving the answer unbound to the
  browser. A code seen in a URL is worth nothing alone: it is spent once, and only with
  the client secret and the PKCE verifier, neither of which leaves the server.
- No Entra token is kept: the session holds the person's name and scopes only.
"""

from __future__ import annotations

import json
import secrets
import warnings
from typing import Any

import msal
import redis
import requests
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.api.access import Principal
from service.api.entra import EntraVerifier, InvalidToken
from service.settings import Settings
from service.ui._auth import console_base_url, safe_next, sign_in_page
from service.ui._errors import UiError
from service.ui._render import render, secure_headers
from service.ui._sessions import hashed_redis_key, https, session_redis, start_session

router = APIRouter(prefix="/ui", include_in_schema=False)

FLOW_COOKIE = "lockgate_console_entra"
FLOW_PATH = "/ui/sign-in/entra"
FLOW_SECONDS = 600  # time to get through Microsoft's page (and its MFA prompt)
MSAL_TIMEOUT_SECONDS = 10.0

# Said on every sign-in; why the query is the choice here is in the module docstring.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")


class _KeepNoTokens(msal.TokenCache):
    """MSAL caches every token it receives; the console needs the ID token's claims once."""

    def add(self, event: dict[str, Any], **_: Any) -> None:
        return None


class EntraSignIn:
    """The console's app registration: builds sign-in requests and checks their answers."""

    def __init__(self, settings: Settings) -> None:
        assert settings.console_entra_client_id and settings.console_entra_client_secret
        self._settings = settings
        self.client_id = settings.console_entra_client_id
        verifier = EntraVerifier.from_settings(settings, audience=self.client_id)
        assert verifier is not None  # settings require the tenant with the client id
        self.verifier = verifier
        self._app: msal.ConfidentialClientApplication | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EntraSignIn | None:
        return cls(settings) if settings.console_entra_client_id else None

    def _msal(self) -> msal.ConfidentialClientApplication:
        # Made on first use: MSAL reads the tenant's OpenID configuration when it is made.
        if self._app is None:
            settings = self._settings
            secret = settings.console_entra_client_secret
            assert secret is not None
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=secret.get_secret_value(),
                authority=f"{settings.entra_authority_host.rstrip('/')}/{settings.entra_tenant_id}",
                # The authority comes from our own settings, not from a caller: nothing to
                # look up in Microsoft's list of clouds (which a sovereign cloud isn't in).
                instance_discovery=False,
                token_cache=_KeepNoTokens(),
                timeout=MSAL_TIMEOUT_SECONDS,
            )
        return self._app

    def start(self, redirect_uri: str) -> dict[str, Any]:
        """A new flow: its ``auth_uri`` is Microsoft's page; the rest checks the answer."""
        try:
            flow: dict[str, Any] = self._msal().initiate_auth_code_flow(
                scopes=[], redirect_uri=redirect_uri, response_mode="query"
            )
        except (requests.RequestException, ValueError) as exc:
            raise _unreachable(exc) from exc
        return flow

    def finish(self, flow: dict[str, Any], answer: dict[str, str]) -> tuple[Principal, float]:
        """The signed-in person and when their ID token expires, from Microsoft's answer
        to ``flow``; refusals raise UiError."""
        try:
            result: dict[str, Any] = self._msal().acquire_token_by_auth_code_flow(
                flow, answer, scopes=[]
            )
        except requests.RequestException as exc:
            raise _unreachable(exc) from exc
        except (ValueError, RuntimeError) as exc:
            # MSAL's words for an answer to another request: ValueError for the state,
            # RuntimeError (IdTokenError) for the ID token's nonce, issuer or audience.
            raise UiError(
                400, "Sign-in refused", f"the answer did not match the request: {exc}"
            ) from exc
        if "error" in result:
            reason = str(result.get("error_description") or result["error"]).splitlines()[0]
            raise UiError(401, "Sign-in refused", f"Entra ID refused the sign-in: {reason}")
        try:
            claims = self.verifier.claims(str(result.get("id_token", "")))
        except InvalidToken as exc:
            raise UiError(401, "Sign-in refused", f"the ID token was refused: {exc}") from exc
        name = claims.get("preferred_username") or claims.get("name") or claims.get("oid")
        return Principal(
            kind="entra", name=str(name or "entra"), scopes=self.verifier.scopes_of(claims)
        ), float(claims["exp"])


def _unreachable(exc: Exception) -> UiError:
    return UiError(
        503, "Entra sign-in unavailable", f"the tenant's sign-in service did not answer: {exc}"
    )


def _entra(request: Request) -> EntraSignIn:
    settings: Settings = request.app.state.settings
    entra: EntraSignIn | None = getattr(request.app.state, "console_entra", None)
    if entra is None:
        entra = EntraSignIn.from_settings(settings)
        if entra is None:
            raise UiError(404, "Not found", "Entra ID sign-in is not configured")
        request.app.state.console_entra = entra
    return entra


def _flow_key(settings: Settings, flow_id: str) -> str:
    return hashed_redis_key(settings, "entra-flow", flow_id)


def _redirect_uri(request: Request) -> str:
    return f"{console_base_url(request)}{FLOW_PATH}/callback"


@router.get("/sign-in/entra", name="ui_sign_in_entra")
def start_entra_sign_in(request: Request, next: str | None = None) -> Response:
    entra = _entra(request)
    flow = entra.start(_redirect_uri(request))
    flow_id = secrets.token_urlsafe(32)
    record = json.dumps({"flow": flow, "next": safe_next(next)})
    try:
        session_redis(request).set(
            _flow_key(request.app.state.settings, flow_id), record, ex=FLOW_SECONDS
        )
    except redis.RedisError as exc:
        raise UiError(
            503, "Console unavailable", "Redis, which keeps sign-ins, did not answer"
        ) from exc
    response = RedirectResponse(flow["auth_uri"], status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        flow_id,
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=https(request),
    )
    return secure_headers(response)


@router.get("/sign-in/entra/callback")
def finish_entra_sign_in(request: Request) -> Response:
    entra = _entra(request)
    flow_id = request.cookies.get(FLOW_COOKIE, "")
    raw: bytes | str | None = None
    if flow_id and len(flow_id) <= 200:
        try:
            # GETDEL: an answer is used once, even if the browser (or anyone) sends it again.
            raw = session_redis(request).getdel(_flow_key(request.app.state.settings, flow_id))
        except redis.RedisError as exc:
            raise UiError(
                503, "Console unavailable", "Redis, which keeps sign-ins, did not answer"
            ) from exc
    if raw is None:
        return _refused(
            request, "This sign-in was not started here or took too long; please start again.", 400
        )
    record = json.loads(raw)
    answer = dict(request.query_params)
    next_path = safe_next(record.get("next"))
    try:
        principal, until = entra.finish(record["flow"], answer)
    except UiError as exc:
        if exc.status >= 500:
            raise
        return _refused(request, exc.detail, exc.status, next_path=next_path)
    if not principal.allows("read"):
        return _refused(
            request,
            f"{principal.name} has no Lockgate role in this tenant (ask for one of: "
            f"{', '.join(sorted(entra.verifier.role_names))}).",
            403,
            next_path=next_path,
        )
    response = render(request, "signed_in.html", {"next_path": next_path, "name": principal.name})
    start_session(request, response, principal, until=until, via="entra_page")
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _refused(request: Request, error: str, status: int, *, next_path: str = "/ui") -> Response:
    response = sign_in_page(request, next_path=next_path, error=error, status_code=status)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
