"""File arrival on a local folder and on Azurite: only new files trigger, bursts become
one run, restarts neither repeat nor miss, and a poll's cost stays flat as files pile up."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from pydantic import SecretStr

from service.store.models.triggers import FileWatch
from service.triggers.blob_listing import LocalFolderStore
from service.triggers.blob_locations import Location
from service.triggers.listener import Listener
from tests.triggers.conftest import Azurite, FakeClock, Triggers

pytestmark = pytest.mark.parametrize("database_url", ["store"], indirect=True)

PARAMETERS = [
    {"name": "where", "default": "{{job.trigger.file_arrival.location}}"},
    {"name": "new_files", "default": "[]"},
]


def _local_listener(triggers: Triggers, clock: FakeClock) -> Listener:
    def store(location: Location) -> LocalFolderStore:
        return LocalFolderStore(Path(location.container), settle_seconds=0)

    listener = Listener(
        triggers.sessions, triggers.sender, triggers.settings, clock=clock, store_factory=store
    )
    listener.startup()
    return listener


def _write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _watch_id(triggers: Triggers, workflow: str) -> str:
    with triggers.sessions() as session:
        return str(session.query(FileWatch).filter(FileWatch.workflow_name == workflow).one().id)


def _files(triggers: Triggers) -> list[list[str]]:
    return [
        sorted(Path(u).name for u in e.payload["files"]) for e in triggers.accepted("file_arrival")
    ]


def _workflow(triggers: Triggers, name: str, url: str, **arrival: object) -> None:
    trigger = {"file_arrival": {"url": url, **arrival}}
    triggers.add_workflow(name, trigger=trigger, parameters=PARAMETERS)


def test_only_new_files_trigger_and_restarts_neither_repeat_nor_miss(
    triggers: Triggers, clock: FakeClock, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    _write(inbox / "landing" / "old.csv")
    _workflow(triggers, "ingest", f"file://{inbox}/landing/")
    listener = _local_listener(triggers, clock)
    listener.tick()
    assert triggers.accepted() == []  # files there before the trigger do not fire it

    _write(inbox / "landing" / "a.csv")
    clock.advance(seconds=10)
    listener.tick()
    assert _files(triggers) == [["a.csv"]]
    event = triggers.accepted()[0]
    assert event.parameters["where"] == f"file://{inbox}/landing/"
    assert [Path(f).name for f in json.loads(event.parameters["new_files"])] == ["a.csv"]
    listener.shutdown()

    _write(inbox / "landing" / "b.csv")  # arrives while no listener runs
    _write(inbox / "landing" / "a.csv", "overwritten")  # an overwrite: not a new file
    os.utime(inbox / "landing" / "a.csv", (time.time() - 100, time.time() - 100))
    restarted = _local_listener(triggers, clock)
    clock.advance(seconds=10)
    restarted.tick()
    restarted.tick()
    assert _files(triggers) == [["a.csv"], ["b.csv"]]
    assert triggers.queued_messages() == 2


def test_a_burst_becomes_one_run_and_triggers_keep_their_distance(
    triggers: Triggers, clock: FakeClock, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _workflow(
        triggers,
        "burst",
        f"file://{inbox}/",
        wait_after_last_change_seconds=60,
        min_time_between_triggers_seconds=300,
    )
    listener = _local_listener(triggers, clock)
    listener.tick()
    for name in ("1.csv", "2.csv", "3.csv"):
        _write(inbox / name)
        clock.advance(seconds=30)
        listener.tick()
    assert _files(triggers) == []  # still changing
    clock.advance(seconds=59)
    listener.tick()
    assert _files(triggers) == []  # 59 s quiet
    clock.advance(seconds=1)
    listener.tick()
    assert _files(triggers) == [["1.csv", "2.csv", "3.csv"]]
    _write(inbox / "4.csv")
    clock.advance(seconds=120)
    listener.tick()
    assert len(_files(triggers)) == 1  # quiet long enough, but within 300 s of the last run
    clock.advance(seconds=200)
    listener.tick()
    assert _files(triggers) == [["1.csv", "2.csv", "3.csv"], ["4.csv"]]


def test_overwrites_and_name_filters(triggers: Triggers, clock: FakeClock, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    url = f"file://{inbox}/"
    _workflow(triggers, "strict", url, suffix=".csv", trigger_on_overwrite=True)
    listener = _local_listener(triggers, clock)
    listener.tick()
    _write(inbox / "data.csv")
    _write(inbox / "notes.txt")
    _write(inbox / ".hidden.csv")  # being written: dot files are skipped
    clock.advance(seconds=1)
    listener.tick()
    assert _files(triggers) == [["data.csv"]]
    _write(inbox / "data.csv", "a new version")
    os.utime(inbox / "data.csv", (time.time() - 100, time.time() - 100))
    clock.advance(seconds=1)
    listener.tick()
    assert _files(triggers) == [["data.csv"], ["data.csv"]]


def test_two_listeners_take_turns_on_a_watch(
    triggers: Triggers, clock: FakeClock, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _workflow(triggers, "shared", f"file://{inbox}/")
    first, second = _local_listener(triggers, clock), _local_listener(triggers, clock)
    watch_id = _watch_id(triggers, "shared")
    first.tick()
    _write(inbox / "x.csv")
    clock.advance(seconds=1)
    assert first.poll(watch_id) is not None
    assert second.poll(watch_id) is not None  # the lease was released after the poll
    assert _files(triggers) == [["x.csv"]]


def test_listing_cost_stays_flat_on_time_partitioned_paths(
    triggers: Triggers, clock: FakeClock, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    _workflow(triggers, "daily", f"file://{inbox}/landing/")
    (inbox / "landing").mkdir(parents=True)
    listener = _local_listener(triggers, clock)
    listener.tick()
    watch_id = _watch_id(triggers, "daily")
    costs = []
    for day in range(1, 21):
        for n in range(20):
            _write(inbox / "landing" / "2026" / "11" / f"{day:02d}" / f"part-{n:03d}.csv")
        clock.advance(seconds=5)
        result = listener.poll(watch_id)
        assert result is not None
        costs.append((result.requests, result.listed))
    assert len(triggers.accepted()) == 20
    # Each poll lists the checkpoint's day and the new one, never the 380 files before.
    assert max(listed for _, listed in costs[1:]) <= 40
    assert max(requests for requests, _ in costs) <= 6


def test_azure_blob_source_on_azurite(
    triggers: Triggers, clock: FakeClock, azurite: Azurite
) -> None:
    container = f"c{uuid.uuid4().hex[:12]}"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.get_container_client(container)
    client.create_container()
    client.upload_blob("landing/2026/11/24/old.csv", b"x")
    settings = triggers.settings.model_copy(
        update={"blob_connection_string": SecretStr(azurite.connection_string)}
    )
    url = f"{azurite.blob_url}/{container}/landing/"
    _workflow(triggers, "azure", url, suffix=".csv")
    listener = Listener(triggers.sessions, triggers.sender, settings, clock=clock)
    listener.startup()
    watch_id = _watch_id(triggers, "azure")
    listener.tick()
    assert triggers.accepted() == []
    client.upload_blob("landing/2026/11/25/a.csv", b"x")
    client.upload_blob("landing/2026/11/25/skip.json", b"x")
    clock.advance(seconds=10)
    first = listener.poll(watch_id)
    assert first is not None and first.fired is not None
    assert _files(triggers) == [["a.csv"]]
    event = triggers.accepted()[0]
    assert event.payload["files"] == [f"{azurite.blob_url}/{container}/landing/2026/11/25/a.csv"]
    assert event.parameters["where"] == url
    client.upload_blob("landing/2026/11/25/a.csv", b"overwritten", overwrite=True)
    listener.shutdown()

    client.upload_blob("landing/2026/11/26/b.csv", b"x")  # while down
    restarted = Listener(triggers.sessions, triggers.sender, settings, clock=clock)
    restarted.startup()
    clock.advance(seconds=10)
    again = restarted.poll(watch_id)
    assert again is not None
    assert _files(triggers) == [["a.csv"], ["b.csv"]]
    # The 24th and 25th are behind the checkpoint: listing them is not needed any more.
    assert again.requests <= 5
    restarted.shutdown()
