"""PAT and Azure AD auth over real requests to the fixture server.

`FakeCredential` stands in for an azure-identity TokenCredential: Azure AD cannot run on
one machine, and `get_token` is the whole interface the client relies on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from pydantic import SecretStr

from service import databricks
from service.databricks import (
    DATABRICKS_AZURE_SCOPE,
    LOCAL_BACKEND_TOKEN,
    AzureAdAuth,
    DatabricksClient,
    PatAuth,
    auth_from_settings,
)
from service.settings import Settings
from tests.databricks.conftest import TEST_TOKEN, FixtureServer, RecordedRequest, Reply

MakeClient = Callable[..., DatabricksClient]

CANCEL = "/api/2.2/jobs/runs/cancel"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeCredential:
    """Hands out numbered tokens valid for `lifetime` seconds from the fake clock."""

    def __init__(self, clock: FakeClock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.scopes: list[str] = []
        self.fail_with: Exception | None = None

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.fail_with is not None:
            raise self.fail_with
        self.scopes.extend(scopes)
        return AccessToken(f"aad-token-{len(self.scopes)}", int(self.clock() + self.lifetime))


def authorization(server: FixtureServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.received("POST", CANCEL)]


def test_pat_is_sent_as_a_bearer_header(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", CANCEL, Reply(body={}))
    make_client(auth=PatAuth(SecretStr(TEST_TOKEN))).cancel_run(1)
    assert authorization(server) == [f"Bearer {TEST_TOKEN}"]


def test_pat_never_reaches_logs_or_reprs(
    server: FixtureServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("POST", CANCEL, Reply(body={}), Reply(503, {"message": "down"}))
    auth = PatAuth(TEST_TOKEN)
    client = make_client(auth=auth)
    with caplog.at_level(logging.DEBUG):  # every logger, httpx and httpcore included
        client.cancel_run(1)
        with pytest.raises(databricks.ServerError) as info:
            client.cancel_run(2)
    assert caplog.records, "the calls were logged"
    for record in caplog.records:
        assert TEST_TOKEN not in record.getMessage()
        assert TEST_TOKEN not in repr(record.__dict__)
    assert TEST_TOKEN not in repr(auth) and TEST_TOKEN not in repr(client)
    assert TEST_TOKEN not in str(info.value) and TEST_TOKEN not in repr(info.value)


def test_empty_pat_is_refused() -> None:
    with pytest.raises(ValueError):
        PatAuth("")


def test_azure_token_is_fetched_once_and_cached(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("POST", CANCEL, Reply(body={}))
    clock = FakeClock()
    credential = FakeCredential(clock)
    client = make_client(auth=AzureAdAuth(credential, clock=clock))
    client.cancel_run(1)
    clock.now += 1000
    client.cancel_run(2)
    assert authorization(server) == ["Bearer aad-token-1", "Bearer aad-token-1"]
    assert credential.scopes == [DATABRICKS_AZURE_SCOPE]


def test_azure_token_is_refreshed_a_lead_time_before_expiry(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("POST", CANCEL, Reply(body={}))
    clock = FakeClock()
    credential = FakeCredential(clock, lifetime=3600)
    client = make_client(auth=AzureAdAuth(credential, refresh_lead_seconds=120, clock=clock))
    client.cancel_run(1)
    clock.now += 3600 - 121  # still more than the lead time left: cached
    client.cancel_run(2)
    clock.now += 2  # inside the lead time: refreshed before it lapses
    client.cancel_run(3)
    assert authorization(server) == [
        "Bearer aad-token-1",
        "Bearer aad-token-1",
        "Bearer aad-token-2",
    ]


def test_a_401_refetches_the_token_and_resends_once(
    server: FixtureServer, make_client: MakeClient
) -> None:
    # The first token is revoked server-side before its expiry.
    def reject_first_token(request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") == "Bearer aad-token-1":
            return Reply(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid token"})
        return Reply(body={})

    server.on("POST", CANCEL, reject_first_token)
    clock = FakeClock()
    credential = FakeCredential(clock)
    client = make_client(auth=AzureAdAuth(credential, clock=clock))
    client.cancel_run(1)
    client.cancel_run(2)
    assert authorization(server) == [
        "Bearer aad-token-1",
        "Bearer aad-token-2",
        "Bearer aad-token-2",
    ]
    # The resent request carried the same body.
    assert [r.json for r in server.received("POST", CANCEL)] == [
        {"run_id": 1},
        {"run_id": 1},
        {"run_id": 2},
    ]


def test_a_second_401_is_raised_not_retried_forever(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("POST", CANCEL, Reply(401, {"error_code": "UNAUTHENTICATED", "message": "no"}))
    clock = FakeClock()
    credential = FakeCredential(clock)
    client = make_client(auth=AzureAdAuth(credential, clock=clock), max_retry_seconds=5)
    with pytest.raises(databricks.Unauthenticated) as info:
        client.cancel_run(1)
    assert len(server.received("POST", CANCEL)) == 2
    assert len(credential.scopes) == 2
    assert "aad-token" not in str(info.value)


def test_a_credential_failure_is_a_credential_error(
    server: FixtureServer, make_client: MakeClient
) -> None:
    clock = FakeClock()
    credential = FakeCredential(clock)
    credential.fail_with = ClientAuthenticationError("no managed identity endpoint")
    client = make_client(auth=AzureAdAuth(credential, clock=clock), max_retry_seconds=5)
    with pytest.raises(databricks.CredentialError) as info:
        client.cancel_run(1)
    assert isinstance(info.value.__cause__, ClientAuthenticationError)
    assert info.value.path == CANCEL
    assert databricks.is_retryable(info.value) is None
    assert server.requests == []  # nothing was sent without a token


def test_azure_auth_repr_shows_no_token(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", CANCEL, Reply(body={}))
    clock = FakeClock()
    auth = AzureAdAuth(FakeCredential(clock), clock=clock)
    make_client(auth=auth).cancel_run(1)
    assert "aad-token" not in repr(auth)
    assert "FakeCredential" in repr(auth)


def test_settings_choose_pat() -> None:
    settings = Settings(
        databricks_host="https://adb-1.azuredatabricks.net", databricks_token=SecretStr("dapi-x")
    )
    auth = auth_from_settings(settings)
    assert isinstance(auth, PatAuth)


def test_settings_choose_azure_without_network() -> None:
    auth = auth_from_settings(
        Settings(databricks_host="https://adb-1.azuredatabricks.net", databricks_auth="azure")
    )
    assert isinstance(auth, AzureAdAuth)
    assert "DefaultAzureCredential" in repr(auth)


def test_local_backend_needs_no_token(server: FixtureServer) -> None:
    server.on("POST", CANCEL, Reply(body={}))
    # No host: the embedded local backend, here the fixture server's port.
    settings = Settings(local_backend_port=int(server.url.rsplit(":", 1)[1]))
    with DatabricksClient.from_settings(settings) as client:
        client.cancel_run(1)
    assert authorization(server) == [f"Bearer {LOCAL_BACKEND_TOKEN}"]


def test_a_workspace_without_a_token_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="LOCKGATE_DATABRICKS_TOKEN"):
        auth_from_settings(Settings(databricks_host="https://adb-1.azuredatabricks.net"))
