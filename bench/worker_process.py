"""A real Lockgate worker (`lockgate worker --beat`) as a subprocess, for benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service.settings import Settings
from tests.factories import settings_env

REPO = Path(__file__).resolve().parents[1]


def start_worker(settings: Settings, concurrency: int = 8) -> subprocess.Popen[bytes]:
    """Started in its own session, its output dropped; stop it with terminate()."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "worker",
            "--beat",
            "--concurrency",
            str(concurrency),
        ],
        env=settings_env(settings),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
