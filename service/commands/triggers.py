"""Commands for trigger sources: scheduler, listener, hooks, events."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
