"""What is done with each run that ends in a watched workspace."""

from __future__ import annotations

from collections.abc import Sequence

from service.settings import Settings
from service.workspace.watcher import EndedRunHandler


def ended_run_handlers(settings: Settings) -> Sequence[EndedRunHandler]:
    return ()
