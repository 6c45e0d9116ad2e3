"""One inbound webhook delivery, from raw request to ledger rows.

Order matters: size, then signature, then content. Nothing of a body is trusted (or
kept) before its signature checks out; a refused delivery to a known hook is still a
ledger row (``rejected``, with sizes and the reason but no body) and an alert event.
An accepted delivery makes one event per target workflow, all under the same dedupe
key, committed before the caller acknowledges.

Checking a delivery (``check_delivery``) touches no database, so a batch of them can be
checked first and written together (``service.triggers.hook_batch``); the one-by-one
writers here (``record_checked``, ``record_refused``) are that batch's fallbacks.

Dedupe key: the sender's delivery id (the hook's ``delivery_id_header``, else
``Idempotency-Key``, ``X-GitHub-Delivery``, ``webhook-id``), else the signature (the
same signed request replayed within the tolerance window is the same delivery). A
token-verified delivery without an id has no key that tells two sends apart, so it is
never deduplicated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from service.settings import Settings
from service.store.models import Hook, new_id, utcnow
from service.store.repositories import workflows as workflows_repo
from service.triggers import hook_payload, webhook
from service.triggers.ledger import (
    AcceptedTrigger,
    record_filtered,
    record_rejected,
    record_trigger,
)
from service.workflows import check_run_request

SOURCE = "webhook"
MAX_DELIVERY_ID = 150


@dataclass(frozen=True)
class HookDelivery:
    hook_name: str
    body: bytes | None  # None: larger than max_body_bytes
    max_body_bytes: int
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]
    content_type: str | None


@dataclass
class DeliveryOutcome:
    accepted: list[AcceptedTrigger] = field(default_factory=list)
    verdict: str = "accepted"
    reason: str | None = None
    ledger_id: str | None = None

    @property
    def duplicate(self) -> bool:
        return bool(self.accepted) and not any(a.created for a in self.accepted)

    def body(self) -> dict[str, Any]:
        event_ids = [a.event_id for a in self.accepted]
        return {
            "event_id": event_ids[0] if event_ids else self.ledger_id,
            "event_ids": event_ids,
            "ledger_ids": [a.row_id for a in self.accepted] or [self.ledger_id],
            "duplicate": self.duplicate,
            "verdict": "duplicate" if self.duplicate else self.verdict,
            **({"reason": self.reason} if self.reason else {}),
        }


class DeliveryRefused(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        path: str | None = None,
        recorded: tuple[AcceptedTrigger, ...] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.path = path
        self.recorded = recorded


@dataclass(frozen=True)
class Target:
    """A workflow a hook starts: its id and name are all a delivery needs of it."""

    id: str
    name: str


@dataclass(frozen=True)
class CheckedDelivery:
    """A delivery that passed its hook's checks: what its ledger rows will hold.
    ``unmet_filter`` set: a filter drops it (one ``filtered`` row, no run)."""

    dedupe_key: str
    payload: dict[str, Any]
    parameters: dict[str, str]
    unmet_filter: str | None = None


def hook_targets(hook: Hook | None, name: str, known: Mapping[str, Target]) -> list[Target]:
    """The workflows a delivery to ``hook`` starts. A missing or disabled hook, or one
    naming a workflow that is gone, refuses the delivery without a ledger row."""
    if hook is None:
        raise DeliveryRefused(404, "Hook not found", f"no hook is named {name!r}")
    if hook.disabled_at is not None:
        raise DeliveryRefused(403, "Hook disabled", f"hook {hook.name!r} is disabled")
    found = []
    for target in hook.targets:
        workflow = known.get(target)
        if workflow is None:
            raise DeliveryRefused(
                409,
                "Workflow missing",
                f"hook {hook.name!r} names workflow {target!r}, which is gone",
            )
        found.append(workflow)
    return found


def check_delivery(
    hook: Hook, delivery: HookDelivery, settings: Settings, *, now: float
) -> CheckedDelivery:
    """Size, then signature, then content; touches no database. A ``DeliveryRefused``
    from here is written down as a ``rejected`` row (``record_refused``)."""
    if delivery.body is None:
        raise DeliveryRefused(
            413, "Body too large", f"the limit is {delivery.max_body_bytes} bytes"
        )
    try:
        signature = webhook.verify_request(
            verification=hook.verification,
            secrets=workflows_repo.active_hook_secrets(hook, now=utcnow()),
            headers=_Caseless(delivery.headers),
            query=delivery.query,
            body=delivery.body,
            now=now,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    except webhook.InvalidSignature as exc:
        raise DeliveryRefused(401, "Invalid signature", str(exc)) from exc
    try:
        body = hook_payload.parse_body(delivery.body, delivery.content_type)
    except hook_payload.UnreadableBody as exc:
        raise DeliveryRefused(400, "Unreadable body", str(exc)) from exc
    dedupe_key = _dedupe_key(hook, delivery, signature)
    request = hook_payload.HookRequest(body=body, headers=delivery.headers, query=delivery.query)
    payload = body if isinstance(body, dict) else {"body": body}
    unmet = hook_payload.first_unmet_filter(hook.filters, request)
    if unmet is not None:
        return CheckedDelivery(dedupe_key, payload, {}, unmet_filter=unmet)
    try:
        parameters = hook_payload.map_parameters(hook.parameters, request)
    except hook_payload.ParameterMappingError as exc:
        raise DeliveryRefused(422, "Missing field", exc.message, path=exc.path) from exc
    too_large = check_run_request(parameters, None)  # Databricks' run-now limits
    if too_large:
        raise DeliveryRefused(
            422, "Parameters too large", too_large[0].message, path=too_large[0].path
        )
    return CheckedDelivery(dedupe_key, payload, parameters)


def record_checked(
    session: Session, hook: Hook, targets: list[Target], checked: CheckedDelivery
) -> DeliveryOutcome:
    """One checked delivery's rows, a lookup and an insert each (the batch path's
    fallback when a concurrent writer took one of its keys)."""
    if checked.unmet_filter is not None:
        row = record_filtered(
            session,
            source=SOURCE,
            source_name=hook.name,
            dedupe_key=checked.dedupe_key,
            workflow_id=targets[0].id,
            reason=checked.unmet_filter,
            payload=checked.payload,
        )
        return DeliveryOutcome(verdict="filtered", reason=checked.unmet_filter, ledger_id=row.id)
    outcome = DeliveryOutcome()
    for workflow in targets:
        outcome.accepted.append(
            record_trigger(
                session,
                source=SOURCE,
                source_name=hook.name,
                dedupe_key=checked.dedupe_key,
                workflow_id=workflow.id,
                payload=checked.payload,
                parameters=checked.parameters,
            )
        )
    return outcome


def record_refused(
    session: Session,
    hook: Hook,
    targets: list[Target],
    delivery: HookDelivery,
    refused: DeliveryRefused,
    settings: Settings,
) -> DeliveryRefused:
    """Writes a refused delivery down (sizes and the reason, never its body) and returns
    the refusal carrying that row, whose alert messages go out after the commit."""
    rejected = record_rejected(
        session,
        source=SOURCE,
        source_name=hook.name,
        workflow_id=targets[0].id,
        workflow_name=targets[0].name,
        reason=refused.detail,
        detail=_request_facts(delivery, refused.status),
        settings=settings,
    )
    refused.recorded = (rejected,)
    return refused


def _dedupe_key(hook: Hook, delivery: HookDelivery, signature: str) -> str:
    names = (hook.delivery_id_header,) if hook.delivery_id_header else ()
    for header in (*names, *webhook.DELIVERY_ID_HEADERS):
        value = delivery.headers.get(header.lower())
        if value is not None:
            if not 0 < len(value) <= MAX_DELIVERY_ID:
                raise DeliveryRefused(
                    400,
                    f"Bad {header}",
                    f"{header} must be 1 to {MAX_DELIVERY_ID} characters",
                    path=f"header:{header}",
                )
            return f"key:{value}"
    if signature:
        return f"sig:{signature}"[:200]
    return f"none:{new_id()}"


def _request_facts(delivery: HookDelivery, status: int) -> dict[str, Any]:
    """What a refused delivery leaves in the ledger: never its body or header values."""
    return {
        "status": status,
        "body_bytes": None if delivery.body is None else len(delivery.body),
        "content_type": delivery.content_type,
        "header_names": sorted(delivery.headers)[:50],
    }


class _Caseless(Mapping[str, str]):
    """Header lookup by any capitalisation over lower-cased names."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def __getitem__(self, key: str) -> str:
        return self._headers[key.lower()]

    def __iter__(self) -> Any:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)
