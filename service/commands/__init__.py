"""`lockgate` subcommands by area; each module's ``register(app)`` adds its commands."""

from __future__ import annotations

import typer

from service.commands import alerts, local, runs, triggers, workflows


def register_all(app: typer.Typer) -> None:
    for area in (workflows, runs, triggers, alerts, local):
        area.register(app)
