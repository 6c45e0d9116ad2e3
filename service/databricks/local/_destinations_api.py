"""``/api/2.0/notification-destinations``: create, list, get, update (PATCH) and delete.

Shapes as in databricks-sdk ``service/settings.py`` (``NotificationDestinationsAPI``):
create, get and update answer a ``NotificationDestination``; list answers ``results``
(id, display_name, destination_type; no config) and a ``next_page_token`` while more
remain; delete answers ``{}``. Every user here is a workspace admin.
"""

from __future__ import annotations

from fastapi import APIRouter

from ._destinations import (
    new_destination,
    render_destination,
    render_summary,
    updated_destination,
)
from ._errors import invalid_parameter
from ._http import BackendDep, JsonBody
from ._paging import decode_page_token, encode_page_token
from ._payload import JsonObject
from ._time import now_ms

router = APIRouter()

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_PAGE_KIND = "notification-destinations"


@router.post("")
def create_destination(backend: BackendDep, payload: JsonBody) -> JsonObject:
    destination = new_destination(payload, created_time=now_ms())
    backend.destinations.save(destination)
    return render_destination(destination)


@router.get("")
def list_destinations(
    backend: BackendDep, page_size: int | None = None, page_token: str | None = None
) -> JsonObject:
    size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    if size < 1:
        raise invalid_parameter(f"page_size must be positive, got {size}")
    size = min(size, MAX_PAGE_SIZE)
    offset = decode_page_token(page_token, _PAGE_KIND) or 0
    everything = backend.destinations.all()
    page = everything[offset : offset + size]
    body: JsonObject = {"results": [render_summary(item) for item in page]}
    if offset + size < len(everything):
        body["next_page_token"] = encode_page_token(_PAGE_KIND, offset + size)
    return body


@router.get("/{destination_id}")
def get_destination(backend: BackendDep, destination_id: str) -> JsonObject:
    return render_destination(backend.destinations.get(destination_id))


@router.patch("/{destination_id}")
def update_destination(backend: BackendDep, destination_id: str, payload: JsonBody) -> JsonObject:
    changed = backend.destinations.update(
        destination_id, lambda current: updated_destination(current, payload)
    )
    return render_destination(changed)


@router.delete("/{destination_id}")
def delete_destination(backend: BackendDep, destination_id: str) -> JsonObject:
    backend.destinations.remove(destination_id)
    return {}
