"""Listing a file-arrival location from a checkpoint, so the cost of a poll does not grow
with the blobs already seen.

The choice: **key order, one folder level at a time.** Azure Blob listing has no
"modified since" filter, and its continuation markers are opaque, so a last-modified
checkpoint still lists every blob, and a marker cannot be made up from a name. What does
work on every account (and Azurite) is a hierarchical listing (``delimiter="/"``) and
the fact that producers write time-partitioned paths (``landing/2026/11/25/…``) whose
names sort in arrival order. The checkpoint is the greatest name seen; a poll walks
down the folders on the checkpoint's path, skips every folder that sorts before it, lists
the checkpoint's own folder in full (so a file that lands out of order inside the
current partition is still found: the seen set tells it apart) and everything after.
A poll therefore costs about (depth + pages of the newest folder) requests, whatever
the container holds. A flat folder degrades to listing that folder, which is the best
any listing can do there; use Event Grid push for those.

What this does not see: a new file written into a folder that sorts before the
checkpoint's (a late file in yesterday's partition), and an overwrite there. Event Grid
push sees both.

The count of requests is what stays flat; how long the service takes over one is its
own affair. Azurite filters and sorts every blob under a listed prefix again for each
5,000 it passes over, so there the levels above the current partition (each holding
every blob) take time that grows with the square of the container: about 12 s a poll at
100,000 blobs, against some 80 ms for the day- and hour-folders. A folder on disk costs
one directory read per level. ``bench.blob_listing`` prints the split.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Entry:
    name: str  # full name in the container; folders end with "/"
    is_folder: bool
    etag: str = ""
    last_modified: datetime | None = None


class BlobStore(Protocol):
    requests: int  # listing requests made so far (for tests and benchmarks)

    def level(self, prefix: str) -> Iterator[Entry]:
        """One folder level under ``prefix``, in name order."""
        ...

    def close(self) -> None: ...


def folder_of(name: str) -> str:
    return name[: name.rfind("/") + 1]


def scan(store: BlobStore, prefix: str, checkpoint: str | None) -> Iterator[Entry]:
    """The blobs under ``prefix`` that a poll must look at; see the module docstring."""
    own_folder = folder_of(checkpoint) if checkpoint is not None else None
    for entry in store.level(prefix):
        if entry.is_folder:
            if checkpoint is None or entry.name > checkpoint:
                yield from scan(store, entry.name, None)  # entirely new
            elif checkpoint.startswith(entry.name):
                yield from scan(store, entry.name, checkpoint)
            # else: a folder wholly before the checkpoint, seen long ago
        elif checkpoint is None or prefix == own_folder or entry.name > checkpoint:
            yield entry


class LocalFolderStore:
    """A folder on disk as a container: ``<root>/<name>``, with "/" as the separator.

    Files still being written must not trigger: names starting with "." or ending in
    ``.tmp``/``.part`` are skipped (write there, then rename), and so is a file changed
    less than ``settle_seconds`` ago.
    """

    def __init__(
        self,
        root: Path,
        *,
        settle_seconds: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.root = root
        self.requests = 0
        self._settle = settle_seconds
        self._clock = clock

    def level(self, prefix: str) -> Iterator[Entry]:
        self.requests += 1
        folder, _, start = prefix.rpartition("/")
        directory = self.root / folder if folder else self.root
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        now = self._clock() if self._clock else datetime.now(UTC).timestamp()
        base = f"{folder}/" if folder else ""
        entries = []
        for child in children:
            if not child.name.startswith(start) or _is_temporary(child.name):
                continue
            if child.is_dir():
                entries.append(Entry(name=f"{base}{child.name}/", is_folder=True))
                continue
            stat = child.stat()
            if now - stat.st_mtime < self._settle:
                continue
            entries.append(
                Entry(
                    name=f"{base}{child.name}",
                    is_folder=False,
                    etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
                    last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )
            )
        # Folders compare with their "/" (as Azure lists them), so sort by full name.
        yield from sorted(entries, key=lambda e: e.name)

    def close(self) -> None:
        pass


def _is_temporary(name: str) -> bool:
    return name.startswith(".") or name.endswith((".tmp", ".part", "~"))


class AzureBlobStore:
    """A container through azure-storage-blob; one ``level`` is one hierarchical listing
    (each page one request)."""

    def __init__(self, container_client: Any) -> None:
        self._container = container_client
        self.requests = 0

    def _count(self, _response: Any) -> None:
        self.requests += 1

    def level(self, prefix: str) -> Iterator[Entry]:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobPrefix

        items = self._container.walk_blobs(
            name_starts_with=prefix or None, delimiter="/", raw_response_hook=self._count
        )
        try:
            listed = list(items)
        except ResourceNotFoundError:
            return  # no container yet: nothing has arrived
        for item in listed:
            if isinstance(item, BlobPrefix):
                yield Entry(name=item.name, is_folder=True)
            else:
                yield Entry(
                    name=item.name,
                    is_folder=False,
                    etag=str(item.etag).strip('"'),
                    last_modified=item.last_modified,
                )

    def close(self) -> None:
        self._container.close()
