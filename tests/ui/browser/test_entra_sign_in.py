"""Entra ID sign-in in a real browser: from the console to the tenant's sign-in page (a
stand-in, on another site as Microsoft's is) and back, signed in. What only a browser
shows: the flow's cookie comes back on the cross-site redirect, and the session cookie
(SameSite=Strict) is sent on the way into the console after it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.ui.conftest import Console
from tests.ui.entra_stand_in import EntraStandIn

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_signing_in_through_the_tenants_page_lands_signed_in(
    browser: Browser, make_console: Callable[..., Console], entra: EntraStandIn
) -> None:
    from playwright.sync_api import expect

    console = make_console(**entra.settings())
    # The stand-in's certificate is its own; the console's Redis and store are real.
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{console.url}/ui/runs")  # not signed in: sent to sign in first
        page.get_by_role("link", name="Sign in with Microsoft (Entra ID)").click()
        page.wait_for_url(f"{entra.url}/**")
        page.get_by_role("button", name="Sign in as ada@contoso.example").click()

        page.wait_for_url(f"{console.url}/ui/runs**")
        expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        expect(page.locator("body")).to_contain_text("ada@contoso.example")
        [exchange] = entra.token_requests
        assert exchange["redirect_uri"] == f"{console.url}/ui/sign-in/entra/callback"
        cookies = {c["name"]: c for c in context.cookies(f"{console.url}/ui/sign-in/entra/")}
        assert cookies["lockgate_console"]["sameSite"] == "Strict"
        assert cookies["lockgate_console"]["httpOnly"] is True
        assert "lockgate_console_entra" not in cookies  # spent with the flow

        # Signing out visits the tenant's sign-out and comes back to the sign-in page.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{console.url}/ui/sign-in**")
        expect(page.get_by_role("link", name="Sign in with Microsoft (Entra ID)")).to_be_visible()
        assert len(entra.sign_outs) == 1
    finally:
        context.close()
