"""The filters of runs/list, as one value the store matches runs against."""

from __future__ import annotations

from dataclasses import dataclass

from ._records import RunRecord
from ._states import ACTIVE_LIFE_CYCLE_STATES, RunType


@dataclass(frozen=True)
class RunFilter:
    job_id: int | None = None
    active_only: bool = False
    completed_only: bool = False
    run_type: RunType | None = None
    start_time_from: int | None = None
    start_time_to: int | None = None

    def matches(self, run: RunRecord) -> bool:
        if self.job_id is not None and run.job_id != self.job_id:
            return False
        if self.active_only and run.life_cycle_state not in ACTIVE_LIFE_CYCLE_STATES:
            return False
        if self.completed_only and not run.is_terminal:
            return False
        if self.run_type is not None and run.run_type is not self.run_type:
            return False
        if self.start_time_from is not None and run.start_time < self.start_time_from:
            return False
        return self.start_time_to is None or run.start_time <= self.start_time_to
