"""SQLAlchemy models, one module per area; every module is imported here so that
``Base.metadata`` (and so Alembic) sees every table."""

from service.store.models import (  # noqa: F401  (register tables)
    alerting,
    completion,
    engine,
    triggers,
    workspace,
)
from service.store.models._base import NAMING_CONVENTION, Base, UTCDateTime, new_id, utcnow
from service.store.models.core import (
    AlertDelivery,
    ApiKey,
    DeliveryStatus,
    EventStatus,
    Hook,
    Run,
    RunStatus,
    TaskRun,
    TriggerEvent,
    Workflow,
)

__all__ = [
    "NAMING_CONVENTION",
    "AlertDelivery",
    "ApiKey",
    "Base",
    "DeliveryStatus",
    "EventStatus",
    "Hook",
    "Run",
    "RunStatus",
    "TaskRun",
    "TriggerEvent",
    "UTCDateTime",
    "Workflow",
    "new_id",
    "utcnow",
]
