"""Entra ID (Azure AD) bearer tokens for the API.

A token is accepted only if its signature verifies against the tenant's published keys
(JWKS, fetched and cached by PyJWKClient), its audience is ours, its issuer is the
tenant's, and it has not expired. Its ``roles`` claim (app roles) maps to scopes; a
token with no mapped role gets no access.
"""

from __future__ import annotations

from typing import Any

import jwt

from service.api.access import Principal
from service.settings import Settings


class InvalidToken(Exception):
    """The token can't be trusted; the message is safe to return (it holds no token)."""


class EntraVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        audience: str,
        issuer: str,
        role_scopes: dict[str, str],
        leeway_seconds: int = 60,
    ) -> None:
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)
        self._audience = audience
        self._issuer = issuer
        self._role_scopes = role_scopes
        self._leeway = leeway_seconds

    @classmethod
    def from_settings(
        cls, settings: Settings, *, audience: str | None = None
    ) -> EntraVerifier | None:
        """The API's verifier (audience ``entra_audience``), or with ``audience`` one for
        another of the tenant's tokens (the console's ID tokens name its client id)."""
        tenant = settings.entra_tenant_id
        if not tenant:
            return None
        audience = audience or settings.entra_audience
        if not audience:
            raise ValueError("LOCKGATE_ENTRA_AUDIENCE is required with LOCKGATE_ENTRA_TENANT_ID")
        authority = settings.entra_authority_host.rstrip("/")
        return cls(
            jwks_url=settings.entra_jwks_url or f"{authority}/{tenant}/discovery/v2.0/keys",
            audience=audience,
            issuer=settings.entra_issuer or f"https://login.microsoftonline.com/{tenant}/v2.0",
            role_scopes=dict(settings.entra_role_scopes),
        )

    def verify(self, token: str) -> Principal:
        return self.principal_of(self.claims(token))

    def principal_of(self, claims: dict[str, Any]) -> Principal:
        """Who verified ``claims`` name (the calling app, else the object id) and their scopes."""
        name = str(claims.get("appid") or claims.get("azp") or claims.get("oid") or "entra")
        return Principal(kind="entra", name=name, scopes=self.scopes_of(claims))

    @property
    def role_names(self) -> list[str]:
        return sorted(self._role_scopes)

    def scopes_of(self, claims: dict[str, Any]) -> frozenset[str]:
        """The scopes the token's app roles map to; none for a role we don't know."""
        roles = claims.get("roles") or []
        return frozenset(self._role_scopes[r] for r in roles if r in self._role_scopes)

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, audience, issuer and expiry check out."""
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientError as exc:
            raise InvalidToken("the token's signing key is not one of the tenant's") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the token was refused: {type(exc).__name__}") from exc
        return claims
