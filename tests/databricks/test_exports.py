"""The public names of service.databricks are pinned: changing them is a deliberate act."""

from __future__ import annotations

from service import databricks


def test_public_names() -> None:
    assert set(databricks.__all__) == {
        "API_PREFIX",
        "DATABRICKS_AZURE_SCOPE",
        "LOCAL_BACKEND_TOKEN",
        "Aborted",
        "AlreadyExists",
        "ApiError",
        "AzureAdAuth",
        "BadRequest",
        "CapacityExceeded",
        "ConnectError",
        "ConnectTimeout",
        "ConnectionLost",
        "CouldNotAcquireLock",
        "CredentialError",
        "DatabricksClient",
        "DatabricksError",
        "DeadlineExceeded",
        "Endpoint",
        "InternalError",
        "InvalidParameterValue",
        "InvalidState",
        "JobsPage",
        "LifeCycleState",
        "MalformedResponse",
        "NotFound",
        "PatAuth",
        "PermissionDenied",
        "Replay",
        "RequestLimitExceeded",
        "ResourceConflict",
        "ResourceDoesNotExist",
        "ResourceExhausted",
        "ResultState",
        "RunInfo",
        "RunOutput",
        "RunsPage",
        "ServerError",
        "TaskRunInfo",
        "TemporarilyUnavailable",
        "TimeoutError",
        "TooManyRequests",
        "TransportError",
        "Unauthenticated",
        "auth_from_settings",
        "is_retryable",
    }
    missing = [name for name in databricks.__all__ if not hasattr(databricks, name)]
    assert missing == []
