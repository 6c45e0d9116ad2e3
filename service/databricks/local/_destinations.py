"""Notification destinations, the objects behind ``/api/2.0/notification-destinations``.

A destination wraps exactly one config kind (``generic_webhook``, ``slack``, ``email``,
``microsoft_teams``, ``pagerduty``); its ``destination_type`` follows from the kind and
never changes. As on a workspace, the kind's secret-bearing fields are input-only: reads
report ``<field>_set`` booleans and never the value (a generic webhook's url, username
and password alike); ``email.addresses`` is the one field echoed back.

An update names the same kind and changes only the fields it sends: a client cannot send
back a password it was never shown, so leaving it out keeps the stored one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from ._errors import invalid_parameter
from ._payload import JsonObject, as_object, get_str


@dataclass(frozen=True)
class ConfigKind:
    destination_type: str
    input_only: tuple[str, ...]  # strings, write-only: reads report <field>_set
    echoed: tuple[str, ...] = ()  # lists of strings, returned as stored
    required: tuple[str, ...] = ()


GENERIC_WEBHOOK = "generic_webhook"
CONFIG_KINDS: Mapping[str, ConfigKind] = {
    GENERIC_WEBHOOK: ConfigKind("WEBHOOK", ("url", "username", "password"), required=("url",)),
    "slack": ConfigKind("SLACK", ("url", "oauth_token", "channel_id")),
    "email": ConfigKind("EMAIL", (), echoed=("addresses",), required=("addresses",)),
    "microsoft_teams": ConfigKind(
        "MICROSOFT_TEAMS", ("url", "app_id", "auth_secret", "channel_url", "tenant_id")
    ),
    "pagerduty": ConfigKind("PAGERDUTY", ("integration_key",), required=("integration_key",)),
}


@dataclass(frozen=True)
class Destination:
    id: str
    display_name: str | None
    kind: str  # a key of CONFIG_KINDS
    values: Mapping[str, Any]  # the config's fields as sent, secrets included
    created_time: int

    @property
    def destination_type(self) -> str:
        return CONFIG_KINDS[self.kind].destination_type


def new_destination(payload: JsonObject, *, created_time: int) -> Destination:
    """A destination from a create request body; a 400 for a malformed one."""
    config = payload.get("config")
    if config is None:
        raise invalid_parameter("config is required")
    kind, values = _parse_config(config, partial=False)
    return Destination(
        id=str(uuid.uuid4()),
        display_name=get_str(payload, "display_name", ""),
        kind=kind,
        values=values,
        created_time=created_time,
    )


def updated_destination(current: Destination, payload: JsonObject) -> Destination:
    """PATCH: display_name and/or config fields replaced; the kind cannot change."""
    if payload.get("display_name") is None and payload.get("config") is None:
        raise invalid_parameter("At least one of display_name or config is required")
    changed = current
    if payload.get("display_name") is not None:
        changed = replace(changed, display_name=get_str(payload, "display_name", ""))
    if payload.get("config") is not None:
        kind, values = _parse_config(payload["config"], partial=True)
        if kind != current.kind:
            raise invalid_parameter(
                f"The destination type of {current.id} is {current.destination_type}; "
                "it cannot be changed"
            )
        merged = {**current.values, **values}
        _check_required(kind, merged)
        changed = replace(changed, values=merged)
    return changed


def render_destination(destination: Destination) -> JsonObject:
    """The NotificationDestination object of get, create and update."""
    kind = CONFIG_KINDS[destination.kind]
    config: JsonObject = {}
    for field in kind.input_only:
        config[f"{field}_set"] = bool(destination.values.get(field))
    for field in kind.echoed:
        if field in destination.values:
            config[field] = list(destination.values[field])
    body = render_summary(destination)
    body["config"] = {destination.kind: config}
    return body


def render_summary(destination: Destination) -> JsonObject:
    """An entry of list's ``results``: no config."""
    body: JsonObject = {"id": destination.id, "destination_type": destination.destination_type}
    if destination.display_name is not None:
        body["display_name"] = destination.display_name
    return body


def destination_doc(destination: Destination) -> dict[str, Any]:
    return {
        "id": destination.id,
        "display_name": destination.display_name,
        "kind": destination.kind,
        "values": dict(destination.values),
        "created_time": destination.created_time,
    }


def destination_from(doc: Mapping[str, Any]) -> Destination:
    return Destination(
        id=doc["id"],
        display_name=doc["display_name"],
        kind=doc["kind"],
        values=dict(doc["values"]),
        created_time=doc["created_time"],
    )


def _parse_config(value: Any, *, partial: bool) -> tuple[str, dict[str, Any]]:
    config = as_object(value, "config")
    kinds = [name for name in config if config[name] is not None]
    if len(kinds) != 1:
        allowed = ", ".join(CONFIG_KINDS)
        raise invalid_parameter(
            f"config must wrap exactly one of {allowed}; got {', '.join(kinds) or 'none'}"
        )
    name = kinds[0]
    kind = CONFIG_KINDS.get(name)
    if kind is None:
        raise invalid_parameter(f"config.{name} is not a notification destination type")
    where = f"config.{name}"
    body = as_object(config[name], where)
    values: dict[str, Any] = {}
    for field, item in body.items():
        if item is None or field.endswith("_set"):  # output-only flags read back earlier
            continue
        if field in kind.input_only:
            if not isinstance(item, str):
                raise invalid_parameter(f"{where}.{field} must be a string")
            values[field] = item
        elif field in kind.echoed:
            if not isinstance(item, list) or not all(isinstance(x, str) for x in item):
                raise invalid_parameter(f"{where}.{field} must be a list of strings")
            values[field] = list(item)
        else:
            raise invalid_parameter(f"{where}.{field} is not a field of {name}")
    if name == GENERIC_WEBHOOK and "url" in values:
        _check_url(values["url"], f"{where}.url")
    if not partial:
        _check_required(name, values)
    return name, values


def _check_required(name: str, values: Mapping[str, Any]) -> None:
    for field in CONFIG_KINDS[name].required:
        if not values.get(field):
            raise invalid_parameter(f"config.{name}.{field} is required")


def _check_url(url: str, where: str) -> None:
    # A workspace insists on https; this backend also takes http, for local receivers.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_parameter(f"{where} must be an http(s) URL, got {url!r}")
