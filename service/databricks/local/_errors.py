"""Databricks-shaped API errors.

Every failure a client can cause is an ``ApiError`` carrying the HTTP status and the
Databricks ``error_code``; the app renders it as ``{"error_code", "message"}``, the body
clients (and the databricks-sdk error mapper) branch on. Unknown jobs and runs are a
400 ``INVALID_PARAMETER_VALUE`` "Job 1 does not exist." as on a real workspace (the
databricks-sdk turns exactly that message on jobs/get and runs/get into
``ResourceDoesNotExist``).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed_request(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_REQUEST", message)


def job_does_not_exist(job_id: int) -> ApiError:
    return invalid_parameter(f"Job {job_id} does not exist.")


def run_does_not_exist(run_id: int) -> ApiError:
    return invalid_parameter(f"Run {run_id} does not exist.")


def resource_conflict(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_CONFLICT", message)


def invalid_state(message: str) -> ApiError:
    return ApiError(400, "INVALID_STATE", message)


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message)


def endpoint_not_found(method: str, path: str) -> ApiError:
    return ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
