"""The console in a real headless browser: Debian's chromium driven by Playwright, against
Lockgate end to end (``open_lockgate``: the API with the console, the local Databricks
backend, a real Redis, an SMTP server, and a Celery worker the test starts).

Playwright's own browser downloads are not reachable here, so it launches Debian's
binary (``LOCKGATE_TEST_CHROMIUM``, default /usr/bin/chromium; ``make test`` installs
the package). If the browser cannot start, the tests FAIL with the reason: a console
test that skips would pass on a machine where nothing was checked.

Screenshots go to ``test-screenshots/`` (git-ignored; ``LOCKGATE_TEST_SCREENSHOTS``
moves it); a failing test leaves one named after it there too.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import REPO_ROOT, Lockgate, open_lockgate

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("LOCKGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("LOCKGATE_TEST_SCREENSHOTS", REPO_ROOT / "test-screenshots"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        pytest.fail(f"Playwright is not installed ({exc}): run make install", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no chromium at {CHROMIUM}: make test installs Debian's chromium package "
            "(apt-get install chromium), or set LOCKGATE_TEST_CHROMIUM",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), timeout=60_000)
        except Error as exc:
            pytest.fail(f"chromium at {CHROMIUM} did not start: {exc}", pytrace=False)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class ConsoleHarness:
    lockgate: Lockgate
    page: Page
    url: str  # where the API (and its console at /ui) is served
    key: str  # an admin API key, as a person would paste it
    # Every error the page logged (a Content-Security-Policy refusal shows up here).
    console_errors: list[str] = field(default_factory=list)

    def shoot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def local(self, link: str) -> str:
        """A link from a mail, on the served console: mails point at ``public_url``,
        which a test server on a free port cannot know before it starts."""
        parts = urlsplit(link)
        return f"{self.url}{parts.path}?{parts.query}"

    def sign_in(self) -> None:
        self.page.goto(f"{self.url}/ui/sign-in")
        self.page.get_by_label("API key").fill(self.key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{self.url}/ui")

    def wait_for_mail(
        self,
        to: str,
        matches: Callable[[EmailMessage], bool] = lambda m: True,
        timeout: float = 90.0,
    ) -> EmailMessage:
        """The first mail the test's SMTP server received for ``to`` that ``matches``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for recipients, message in list(self.lockgate.smtp.messages):
                if to in recipients and matches(message):
                    return message
            time.sleep(0.2)
        seen = [(r, m["Subject"]) for r, m in self.lockgate.smtp.messages]
        raise AssertionError(f"no mail to {to} in {timeout}s; got {seen}")


def subject_has(words: str) -> Callable[[EmailMessage], bool]:
    return lambda message: words in str(message["Subject"])


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\?token=[\w.-]+", plain_text(message))
    assert found, f"no {path} link in the mail"
    return found.group(0)


@pytest.fixture
def console_harness(
    request: pytest.FixtureRequest,
    browser: Browser,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
) -> Iterator[ConsoleHarness]:
    overrides: dict[str, Any] = {
        "console_stream_interval_seconds": 0.3,
        "subscription_secret": "browser-test-subscription-secret",
    }
    with open_lockgate(tmp_path, redis_url, redis_prefix, **overrides) as lockgate:
        url = str(lockgate.api.base_url).rstrip("/")
        key = lockgate.api.headers["Authorization"].removeprefix("Bearer ")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        harness = ConsoleHarness(lockgate, page, url, key)
        page.on(
            "console",
            lambda message: (
                harness.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        try:
            yield harness
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                harness.shoot(f"FAILED-{request.node.name}")
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Lets the fixture above see whether the test failed (for a screenshot of the page).
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
