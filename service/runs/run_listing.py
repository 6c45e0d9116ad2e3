"""Reading ``runs/list`` page by page, 25 runs with their tasks a page, each page a
request spent from the workspace's budget (the client spends it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from service.databricks import DatabricksClient, RunInfo

PAGE_SIZE = 25  # the most runs/list returns with expand_tasks


@dataclass
class RunListing:
    """One listing, newest start first. Iterate for its pages; ``complete`` turns true
    once the last page was read (a listing cut at ``max_pages`` proves nothing about the
    runs it did not reach)."""

    client: DatabricksClient
    max_pages: int
    active_only: bool = False
    completed_only: bool = False
    start_time_from: int | None = None
    start_time_to: int | None = None
    requests: int = 0
    complete: bool = False
    oldest_start_ms: int | None = None  # how far back the pages read so far reached

    def __iter__(self) -> Iterator[list[RunInfo]]:
        page_token: str | None = None
        for _ in range(self.max_pages):
            page = self.client.list_runs(
                active_only=self.active_only,
                completed_only=self.completed_only,
                expand_tasks=True,
                limit=PAGE_SIZE,
                page_token=page_token,
                start_time_from=self.start_time_from,
                start_time_to=self.start_time_to,
            )
            self.requests += 1
            starts = [info.start_time_ms for info in page.runs if info.start_time_ms]
            if starts:
                self.oldest_start_ms = min([*starts, self.oldest_start_ms or starts[0]])
            yield page.runs
            if not page.next_page_token:
                self.complete = True
                return
            page_token = page.next_page_token
