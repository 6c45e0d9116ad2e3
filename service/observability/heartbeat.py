"""A loop's heartbeat: a file touched after every round, so a liveness probe in the
same container (``lockgate scheduler --check``) can tell a loop that still goes round
from one that is stuck. A round that fails (the database away) still beats: restarting
the process would not bring the database back."""

from __future__ import annotations

import time
from pathlib import Path


class Heartbeat:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_component(cls, data_dir: Path, component: str) -> Heartbeat:
        return cls(data_dir / "heartbeat" / component)

    def beat(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError:
            pass  # a full or read-only disk must not stop the loop; the probe will say so

    def age_seconds(self) -> float | None:
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
