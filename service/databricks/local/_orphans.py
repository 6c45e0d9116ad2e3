"""Killing the task processes a SIGKILLed backend left behind, when it starts again.

Each task attempt leads its own process group and every process of it carries
``TASK_RUN_ENV`` (children inherit the environment). The group id of each started
attempt is on file; on restart, for every attempt that was still active, the processes
of its group that carry its own task run id are killed. Checking the marker, not only
the group id, keeps a restart from killing an unrelated process group that reused the
id since. Reads ``/proc``: where there is none (not Linux), nothing is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterable
from pathlib import Path

from ._records import TaskRunRecord
from ._task_process import TASK_RUN_ENV

logger = logging.getLogger(__name__)

PROC = Path("/proc")


def kill_orphaned_task_processes(attempts: Iterable[TaskRunRecord]) -> int:
    """Kill what is left of the given unfinished attempts; returns how many processes."""
    wanted = {
        attempt.process_group_id: attempt.run_id
        for attempt in attempts
        if attempt.termination is None and attempt.process_group_id
    }
    if not wanted or not PROC.is_dir():
        return 0
    killed = 0
    for pid, group_id in _processes_with_group():
        task_run_id = wanted.get(group_id)
        if task_run_id is None or _marker(pid) != str(task_run_id):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    if killed:
        logger.warning("killed %d task process(es) orphaned by a previous backend", killed)
    return killed


def _processes_with_group() -> list[tuple[int, int]]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # Fields after the command (which may hold spaces and parentheses): state, ppid, pgrp.
        fields = stat.rsplit(")", 1)[1].split()
        found.append((int(entry.name), int(fields[2])))
    return found


def _marker(pid: int) -> str | None:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or another user's process
        return None
    prefix = TASK_RUN_ENV.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None
