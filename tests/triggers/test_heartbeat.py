"""Liveness of the trigger loops: each round touches a heartbeat, and `lockgate scheduler
--check` / `lockgate listener --check` (the probes of compose and the Helm chart) pass
only while it is fresh."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from service.commands import triggers as triggers_commands
from service.observability.heartbeat import Heartbeat
from service.settings import get_settings
from service.triggers.listener import Listener
from service.triggers.scheduler import Scheduler
from tests.triggers.conftest import Triggers

runner = CliRunner()
app = typer.Typer()
triggers_commands.register(app)


@pytest.mark.parametrize("loop", [Scheduler, Listener])
def test_every_round_beats(triggers: Triggers, loop: type[Scheduler | Listener]) -> None:
    heartbeat = Heartbeat(triggers.settings.data_dir / "beat")
    settings = triggers.settings.model_copy(
        update={"scheduler_tick_seconds": 0.05, "listener_poll_seconds": 0.05}
    )
    running = loop(triggers.sessions, triggers.sender, settings, heartbeat=heartbeat)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while heartbeat.age_seconds() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first = heartbeat.path.stat().st_mtime_ns
        time.sleep(0.3)
        assert heartbeat.path.stat().st_mtime_ns > first  # still going round
    finally:
        running.shutdown()
        thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.parametrize("component", ["scheduler", "listener"])
def test_the_check_passes_only_on_a_fresh_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, component: str
) -> None:
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        never = runner.invoke(app, [component, "--check"])
        assert never.exit_code == 1 and "never" in never.output

        heartbeat = Heartbeat.for_component(tmp_path, component)
        heartbeat.beat()
        assert runner.invoke(app, [component, "--check"]).exit_code == 0

        stale = time.time() - 600
        os.utime(heartbeat.path, (stale, stale))
        late = runner.invoke(app, [component, "--check", "--max-age", "60"])
        assert late.exit_code == 1 and "600 s ago" in late.output
    finally:
        get_settings.cache_clear()
