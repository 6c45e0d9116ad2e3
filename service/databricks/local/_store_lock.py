"""The store's lock: re-entrant, and it writes what changed before its outermost release."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType


class StoreLock:
    """A re-entrant lock that calls ``on_release`` before its outermost release."""

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # only the owning thread changes it
        self._on_release = on_release

    def __enter__(self) -> StoreLock:
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._depth == 1:
                self._on_release()
        finally:
            self._depth -= 1
            self._lock.release()
