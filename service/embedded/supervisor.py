"""Child processes for `lockgate up`: started in their own process groups, stopped
together on Ctrl-C or SIGTERM, or when any of them dies.

Stopping is graceful and ordered: the last started child is stopped first, and each one
is waited for before the next gets its signal, because a child may need the ones
started before it while it drains (the worker finishing a submission needs Redis and
the Databricks backend; the API finishing a request needs Redis). Each child gets
SIGTERM and its grace period plus a margin; one that is still running then is killed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

# A child's own grace period bounds its drain; this margin covers its exit after that.
_STOP_MARGIN_SECONDS = 5.0


class Supervisor:
    def __init__(self, grace_seconds: float = 8.0) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False
        self._stop_timeout = grace_seconds + _STOP_MARGIN_SECONDS

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        process = subprocess.Popen(list(argv), env=dict(env), start_new_session=True)
        self._children.append((name, process))

    def adopt(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self._children.append((name, process))

    def wait(self) -> int:
        """Blocks until a signal arrives or a child dies, then stops every child. Exits 0
        after a signal when every child stopped by itself; 1 if a child died first or
        had to be killed."""

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
        return 0 if self.stop() else 1

    def stop(self) -> bool:
        """Stops the children, last started first; False if one had to be killed."""
        clean = True
        for name, process in reversed(self._children):
            if process.poll() is not None:
                continue
            _signal_group(process, signal.SIGTERM)
            started = time.monotonic()
            try:
                code = process.wait(timeout=self._stop_timeout)
                log.info("%s stopped in %.1f s (exit %s)", name, time.monotonic() - started, code)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s still running %.0f s after SIGTERM; killing it", name, self._stop_timeout
                )
                _signal_group(process, signal.SIGKILL)
                process.wait()
                clean = False
        return clean


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.send_signal(sig)
