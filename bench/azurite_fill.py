"""An in-memory Azurite that takes 100,000 tiny uploads in minutes, for benchmarks.

Why uploads into Azurite slow down as a container grows: its metadata store looks a blob
up by account, then container, then name, and answers only the first condition from an
index; every blob of the emulator shares the one account, so each Put Blob filters every
blob already there. Uploads fall from ~550/s at 1,000 blobs to ~150/s at 20,000, and a
CPU profile of the Node process puts two thirds of its time in that lookup. Preloading a
few lines (``NODE_OPTIONS=--require``) that put the name first lets the name index answer
(same result). With the lookup fixed the Python SDK's per-request work is the limit, so
uploads go as plain keep-alive HTTP PUTs signed once by a container SAS, from 8 threads:
about 600-900 uploads a second, flat, on two shared cores. Listing is left as Azurite
does it.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from tests.servers import free_port
from tests.triggers.conftest import AZURITE_ACCOUNT, AZURITE_KEY, _azurite_binary

UPLOAD_THREADS = 8

NAME_FIRST_LOOKUP = """
const path = require("path");
const loki = require(require.resolve("lokijs", { paths: [path.dirname(process.argv[1])] }));
const findOne = loki.Collection.prototype.findOne;
loki.Collection.prototype.findOne = function (query) {
  if (this.name === "$BLOBS_COLLECTION$" && query && typeof query.name === "string") {
    const { name, ...rest } = query;
    query = { name, ...rest };
  }
  return findOne.call(this, query);
};
"""


def connection_string(blob_url: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={blob_url};"
    )


@contextmanager
def running_azurite(workdir: Path) -> Iterator[str]:
    """An in-memory Azurite with the name-first lookup; yields the account's blob URL."""
    shim = workdir / "name_first_lookup.js"
    shim.write_text(NAME_FIRST_LOOKUP)
    port = free_port()
    # Idle keep-alive connections must outlive a benchmark's pauses between uploads.
    process = subprocess.Popen(
        [str(_azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--blobKeepAliveTimeout", "600", "--inMemoryPersistence", "--silent",
         "--skipApiVersionCheck", "--disableTelemetry"],
        cwd=workdir,
        env={**os.environ, "NODE_OPTIONS": f"--require {shim}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    blob_url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit(f"azurite exited with {process.returncode}")
            try:
                httpx.get(f"{blob_url}?comp=list", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield blob_url
    finally:
        process.terminate()
        process.wait(timeout=10)


class BulkUploader:
    """Tiny blobs into one container, one keep-alive connection a thread."""

    def __init__(self, blob_url: str, container: str) -> None:
        self._port = int(blob_url.rsplit(":", 1)[1].split("/", 1)[0])
        sas = generate_container_sas(
            AZURITE_ACCOUNT,
            container,
            account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(write=True, create=True),
            expiry=datetime.now(UTC) + timedelta(hours=6),
        )
        self._path = f"/{AZURITE_ACCOUNT}/{container}/{{name}}?{sas}"
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(UPLOAD_THREADS)

    def upload(self, names: list[str]) -> None:
        list(self._pool.map(self._put, names, chunksize=64))

    def close(self) -> None:
        self._pool.shutdown()

    def _put(self, name: str) -> None:
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
                self._local.connection = connection
            try:
                connection.request(
                    "PUT",
                    self._path.format(name=name),
                    body=b"x",
                    headers={"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06"},
                )
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # Closed by the server while idle: a PUT of the same bytes can be resent.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
                continue
            if response.status != 201:
                raise RuntimeError(f"upload {name}: {response.status} {body[:200]!r}")
            return
