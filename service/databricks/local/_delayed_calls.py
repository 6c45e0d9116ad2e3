"""One timer thread for every delayed call (retry intervals, run timeouts).

A ``threading.Timer`` per run would park one thread per active run for as long as its
timeout (a day, for the seed format's default); a heap keeps that to one thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class DelayedCalls:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def call_later(self, delay_seconds: float, fn: Callable[[], None]) -> int:
        """Call ``fn`` on the timer thread after ``delay_seconds``; returns a handle for cancel."""
        with self._condition:
            if self._closed:
                raise RuntimeError("the local backend is shutting down")
            handle = next(self._sequence)
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_seconds), handle, fn))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="local-backend-timers", daemon=True
                )
                self._thread.start()
            self._condition.notify()
            return handle

    def cancel(self, handle: int) -> None:
        with self._condition:
            self._cancelled.add(handle)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                if self._closed:
                    return
                _, handle, fn = heapq.heappop(self._heap)
                if handle in self._cancelled:
                    self._cancelled.discard(handle)
                    continue
            try:
                fn()
            except Exception:
                logger.exception("delayed call failed")
