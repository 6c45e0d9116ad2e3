"""POST /hooks/databricks/{workspace}: Databricks job notifications, taken as hints.

Databricks posts these to the notification destination Lockgate registered (see
``service.runs.hints``) with HTTP Basic credentials derived from
``LOCKGATE_DATABRICKS_HINT_SECRET``. A hint names a run and nothing is believed from it:
a worker confirms the run with one ``runs/get`` and records what Databricks says, so a
forged, stale or repeated hint costs at most one call and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import SenderDep, SettingsDep
from service.api.problems import Problem
from service.databricks.profiles import UnknownWorkspaceProfile, workspace_profile
from service.runs.hints import hint_credentials_valid, hints_enabled
from service.runs.queue import CONFIRM_HINT

router = APIRouter(tags=["ingress"])

MAX_BODY_BYTES = 64 * 1024  # a notification is a few hundred bytes
# The events Databricks sends to a job's webhook destinations.
HINT_EVENT_TYPES = frozenset(
    {
        "jobs.on_start",
        "jobs.on_success",
        "jobs.on_failure",
        "jobs.on_duration_warning_threshold_exceeded",
        "jobs.on_streaming_backlog_exceeded",
    }
)


def _basic_credentials(request: Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            username, sep, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if sep:
            return username, password
    raise Problem(
        401,
        "Authentication required",
        "send the destination's Basic credentials",
        headers={"WWW-Authenticate": 'Basic realm="lockgate"'},
    )


def _run_id(body: Any) -> int:
    """The job run a notification is about: a task-level one names it as parent."""
    if not isinstance(body, dict):
        raise _invalid("$", "a notification is a JSON object")
    event_type = body.get("event_type")
    if event_type not in HINT_EVENT_TYPES:
        raise _invalid("$.event_type", f"not a job notification event type: {event_type!r}")
    run = body.get("run")
    if not isinstance(run, dict):
        raise _invalid("$.run", "the run the notification is about is missing")
    key = "parent_run_id" if run.get("parent_run_id") not in (None, "") else "run_id"
    try:
        return int(run[key])
    except (KeyError, TypeError, ValueError):
        raise _invalid(f"$.run.{key}", "a run id (a number) is required") from None


def _invalid(path: str, message: str) -> Problem:
    return Problem(
        400, "Not a Databricks notification", message, errors=[{"path": path, "message": message}]
    )


@router.post("/hooks/databricks/{workspace}", status_code=202)
async def receive_databricks_hint(
    workspace: str, request: Request, settings: SettingsDep, sender: SenderDep
) -> JSONResponse:
    if not hints_enabled(settings):
        raise Problem(404, "Hints are off", "LOCKGATE_DATABRICKS_HINT_SECRET is not set")
    try:
        workspace_profile(settings, workspace)
    except UnknownWorkspaceProfile as exc:
        raise Problem(404, "Unknown workspace", str(exc)) from exc
    username, password = _basic_credentials(request)
    if not hint_credentials_valid(settings, workspace, username, password):
        raise Problem(
            401,
            "Invalid credentials",
            "the credentials do not match this workspace's destination",
            headers={"WWW-Authenticate": 'Basic realm="lockgate"'},
        )
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Problem(413, "Body too large", f"the limit is {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _invalid("$", "the body is not JSON") from None
    run_id = _run_id(body)
    # Only a nudge: if it is lost, the poll sweep notices the run as before.
    sender.send(CONFIRM_HINT, workspace, str(run_id))
    return JSONResponse({"run_id": run_id, "workspace": workspace}, status_code=202)
