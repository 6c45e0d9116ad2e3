"""Models for alerting (channels, subscriptions, alert history).

Import Base from service.store.models._base."""

from __future__ import annotations
