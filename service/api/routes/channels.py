"""/api/v1/channels: alert channels and their subscriptions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/channels", tags=["alerting"])
