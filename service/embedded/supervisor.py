"""Child processes for `lockgate up`: started in their own process groups, stopped
together on Ctrl-C or when any of them dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        process = subprocess.Popen(list(argv), env=dict(env), start_new_session=True)
        self._children.append((name, process))

    def adopt(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self._children.append((name, process))

    def wait(self) -> int:
        """Blocks until a signal arrives (exit 0) or a child dies (exit 1)."""

        def _stop(_signum: int, _frame: object) -> None:
            self._stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not self._stopping:
            for name, process in self._children:
                if process.poll() is not None:
                    log.error("%s exited with %s; stopping everything", name, process.returncode)
                    self.stop()
                    return 1
            time.sleep(0.2)
        self.stop()
        return 0

    def stop(self, grace_seconds: float = 10.0) -> None:
        for _, process in reversed(self._children):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for _, process in self._children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.send_signal(sig)
