"""Request plumbing shared by the routers: the backend from app state, JSON bodies."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, Request

from ._api_version import ApiVersion
from ._backend import LocalBackend
from ._errors import malformed_request

MAX_BODY_BYTES = 10 * 1024 * 1024  # the Jobs API's request size limit
_VERSION_IN_PATH = re.compile(r"/api/(\d+\.\d+)/jobs/")


def get_backend(request: Request) -> LocalBackend:
    backend: LocalBackend = request.app.state.local_backend
    return backend


def get_api_version(request: Request) -> ApiVersion:
    """The version in the request's path: the Jobs routers are mounted once per version,
    under ``/api/<version>/jobs`` (``_app``)."""
    found = _VERSION_IN_PATH.search(request.url.path)
    if found is None:  # only the Jobs routers ask, and they are mounted under a version
        raise RuntimeError(f"no Jobs API version in {request.url.path!r}")
    return ApiVersion(found.group(1))


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise malformed_request("the request body is larger than 10 MB")
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise malformed_request(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise malformed_request("the request body must be a JSON object")
    return payload


BackendDep = Annotated[LocalBackend, Depends(get_backend)]
JsonBody = Annotated[dict[str, Any], Depends(read_json_object)]
ApiVersionDep = Annotated[ApiVersion, Depends(get_api_version)]
