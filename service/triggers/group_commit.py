"""Group commit: one writer thread turns many waiting requests into one transaction.

Callers hand an item over (``commit`` on an event loop, ``submit`` from a thread) and
wait. The writer takes every item waiting at that moment (at most ``max_batch``), hands
them to ``commit_batch`` at once, and tells each caller the result at its item's
position. While one batch commits the next one queues up, so under load batches grow by
themselves. While busy (the last batch held more than one item) the writer also lingers
up to ``linger_seconds`` for more: fewer, larger batches cost less per item. A lone
request after a quiet spell is committed at once.

The contract with ``commit_batch`` is what makes an acknowledgement safe:

- it returns one result per item, a value or an exception of that item's own; a bad
  item fails alone;
- it raises only when the batch's transaction did not commit, and then every item of the
  batch fails with that exception, so nobody is told "recorded" for an uncommitted row.

A thread's future cancelled before the writer takes it is dropped unseen.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = object()


class WriterClosed(RuntimeError):
    """The writer was closed: the item was not taken."""


class GroupCommitter(Generic[Item, Result]):
    """A single writer thread that commits whatever is waiting, together."""

    def __init__(
        self,
        commit_batch: Callable[[Sequence[Item]], Sequence[Result | Exception]],
        *,
        name: str,
        max_batch: int = 256,
        linger_seconds: float = 0.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._linger_seconds = linger_seconds
        self._busy = False  # the last batch held more than one item: linger for the next
        self._waiting: queue.SimpleQueue[_Entry[Item, Result] | object] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def commit(self, item: Item) -> Result:
        """Waits, on the event loop, until the batch holding ``item`` has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._put(_Entry(item, future, loop))
        return await future

    def submit(self, item: Item) -> Future[Result]:
        """The same from a thread: the future resolves once the batch has committed."""
        future: Future[Result] = Future()
        try:
            self._put(_Entry(item, future, None))
        except WriterClosed as exc:
            future.set_exception(exc)
        return future

    def close(self, timeout_seconds: float = 10.0) -> None:
        """Takes no more items; what was submitted before is still committed."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._waiting.put(_STOP)
        self._thread.join(timeout_seconds)

    def _put(self, entry: _Entry[Item, Result]) -> None:
        with self._close_lock:
            if self._closed or not self._thread.is_alive():
                raise WriterClosed("the writer is closed")
            self._waiting.put(entry)

    def _run(self) -> None:
        stopping = False
        try:
            while not stopping:
                batch, stopping = self._take_batch()
                if batch:
                    self._commit(batch)
                self._busy = len(batch) > 1
        finally:
            self._refuse_waiting()

    def _refuse_waiting(self) -> None:
        """Whoever still waits when the thread ends (it only ends early on a fatal
        error) hears that nothing was taken, rather than waiting forever."""
        with self._close_lock:
            self._closed = True
        left: list[_Entry[Item, Result]] = []
        while True:
            try:
                entry = self._waiting.get_nowait()
            except queue.Empty:
                break
            if isinstance(entry, _Entry) and entry.taken():
                left.append(entry)
        _settle(left, [WriterClosed("the writer stopped")] * len(left))

    def _take_batch(self) -> tuple[list[_Entry[Item, Result]], bool]:
        """Blocks for the first item, then takes what else is waiting (lingering for
        more, when busy). Returns the batch and whether to stop after it."""
        batch: list[_Entry[Item, Result]] = []
        entry = self._waiting.get()
        deadline = time.monotonic() + (self._linger_seconds if self._busy else 0.0)
        while True:
            if not isinstance(entry, _Entry):
                return batch, True
            if entry.taken():
                batch.append(entry)
            if len(batch) >= self._max_batch:
                return batch, False
            try:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    entry = self._waiting.get(timeout=remaining)
                else:
                    entry = self._waiting.get_nowait()
            except queue.Empty:
                return batch, False

    def _commit(self, batch: list[_Entry[Item, Result]]) -> None:
        outcomes: Sequence[Result | BaseException]
        try:
            outcomes = self._commit_batch([entry.item for entry in batch])
        except BaseException as exc:
            # Nothing of this batch is committed: every caller hears so, none is acknowledged.
            log.warning("group commit of %d items failed", len(batch), exc_info=True)
            _settle(batch, [exc] * len(batch))
            if not isinstance(exc, Exception):
                raise
            return
        if len(outcomes) != len(batch):  # a bug in commit_batch: no caller is told "done"
            log.error("group commit: %d results for a batch of %d", len(outcomes), len(batch))
            outcomes = [RuntimeError("the batch's results were lost")] * len(batch)
        _settle(batch, outcomes)


@dataclass(frozen=True)
class _Entry(Generic[Item, Result]):
    item: Item
    future: Future[Result] | asyncio.Future[Result]
    loop: asyncio.AbstractEventLoop | None  # set for an asyncio future

    def taken(self) -> bool:
        """False for a thread's future cancelled while it waited: never committed. (An
        event loop's waiter that gave up is committed all the same, and told nobody.)"""
        if isinstance(self.future, Future):
            return self.future.set_running_or_notify_cancel()
        return True


def _settle(
    batch: Sequence[_Entry[Item, Result]], outcomes: Sequence[Result | BaseException]
) -> None:
    """Hands each caller its outcome: a thread's future directly, an event loop's in one
    wake-up per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for entry, outcome in zip(batch, outcomes, strict=True):
        if entry.loop is None:
            assert isinstance(entry.future, Future)
            if isinstance(outcome, BaseException):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)
        else:
            assert isinstance(entry.future, asyncio.Future)
            by_loop.setdefault(entry.loop, []).append((entry.future, outcome))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.debug("a batch's event loop closed before it was told")


def _settle_on_loop(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        if future.done():  # its caller gave up
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
