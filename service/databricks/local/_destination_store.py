"""The backend's notification destinations: in memory, written through to its SQLite file.

Each change is on disk before the request that made it is answered (destinations change
rarely, so one small transaction each). A lock of its own, not the run store's: the
webhook sender reads destinations from its threads without touching run state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ._destinations import Destination, destination_doc, destination_from
from ._errors import ApiError
from ._persistence import StateDatabase


def destination_does_not_exist(destination_id: str) -> ApiError:
    return ApiError(
        404, "RESOURCE_DOES_NOT_EXIST", f"Notification destination {destination_id} does not exist."
    )


class DestinationStore:
    def __init__(self, database: StateDatabase) -> None:
        self._lock = threading.Lock()
        self._database = database
        loaded = (destination_from(doc) for doc in database.load_destinations())
        self._by_id: dict[str, Destination] = {item.id: item for item in loaded}

    def save(self, destination: Destination) -> None:
        """Add a destination or replace the one with its id."""
        with self._lock:
            self._database.save_destination(destination_doc(destination))
            self._by_id[destination.id] = destination

    def update(
        self, destination_id: str, change: Callable[[Destination], Destination]
    ) -> Destination:
        """Replace a destination with ``change(current)``, atomically (PATCH)."""
        with self._lock:
            current = self._by_id.get(destination_id)
            if current is None:
                raise destination_does_not_exist(destination_id)
            changed = change(current)
            self._database.save_destination(destination_doc(changed))
            self._by_id[destination_id] = changed
            return changed

    def get(self, destination_id: str) -> Destination:
        found = self.find(destination_id)
        if found is None:
            raise destination_does_not_exist(destination_id)
        return found

    def find(self, destination_id: str) -> Destination | None:
        with self._lock:
            return self._by_id.get(destination_id)

    def remove(self, destination_id: str) -> None:
        with self._lock:
            if destination_id not in self._by_id:
                raise destination_does_not_exist(destination_id)
            self._database.delete_destination(destination_id)
            del self._by_id[destination_id]

    def all(self) -> list[Destination]:
        """Oldest first (id breaks ties), a stable order to page through."""
        with self._lock:
            return sorted(self._by_id.values(), key=lambda item: (item.created_time, item.id))
