"""Models for trigger sources (schedules, fire records, blob checkpoints, hook settings).

Import Base from service.store.models._base."""

from __future__ import annotations
