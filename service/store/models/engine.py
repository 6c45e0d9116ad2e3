"""Models for the run engine (attempts, queueing, workspace budgets).

Import Base from service.store.models._base."""

from __future__ import annotations
