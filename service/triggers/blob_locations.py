"""Where a file-arrival trigger looks, and how to open it.

A location is written as Databricks writes it (``abfss://container@account.dfs.core.
windows.net/path/``), or as ``wasbs://``, an https blob URL, an Azurite-style URL with the
account in the path (``http://127.0.0.1:10000/devstoreaccount1/container/path``), or
``file:///abs/folder/path`` for a folder on disk.

Credentials (settings, first that is set): a connection string, an account key, a SAS
token, or azure-identity's DefaultAzureCredential. With ``local_inbox_dir`` set (``lockgate
up``) every Azure location is served from ``<inbox>/<container>/<path>`` instead, with the
same semantics, so a workflow written for Azure runs unchanged on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from service.settings import Settings
from service.triggers.blob_listing import AzureBlobStore, BlobStore, LocalFolderStore


class LocationInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Location:
    kind: str  # azure | local
    container: str  # for local: the folder path
    prefix: str  # a name prefix inside the container ("" for all)
    account: str = ""
    account_url: str = ""

    def url_of(self, name: str) -> str:
        if self.kind == "local":
            return f"file://{Path(self.container) / name}"
        return f"{self.account_url}/{self.container}/{name}"

    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.account, self.container)


def parse_location(url: str) -> Location:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    path = unquote(parts.path)
    if scheme == "file":
        if not path.startswith("/"):
            raise LocationInvalid(f"{url!r}: a file location needs an absolute path")
        # The folder is the container; a partial last segment is a name prefix.
        folder, _, rest = path.rpartition("/")
        return Location(kind="local", container=folder or "/", prefix=rest)
    if scheme in ("abfss", "abfs", "wasbs", "wasb"):
        container, _, host = parts.netloc.partition("@")
        if not container or not host:
            raise LocationInvalid(f"{url!r}: expected {scheme}://container@account.host/path")
        account = host.split(".")[0]
        return Location(
            kind="azure",
            container=container,
            prefix=path.lstrip("/"),
            account=account,
            account_url=f"https://{account}.blob.core.windows.net",
        )
    if scheme in ("https", "http"):
        host = parts.hostname or ""
        segments = path.lstrip("/").split("/", 2)
        if host.endswith((".blob.core.windows.net", ".dfs.core.windows.net")):
            account = host.split(".")[0]
            # Here the path is container/name: the name keeps all its slashes.
            container, _, name = path.lstrip("/").partition("/")
            if not container:
                raise LocationInvalid(f"{url!r}: name the container after the host")
            return Location(
                kind="azure",
                container=container,
                prefix=name,
                account=account,
                account_url=f"https://{account}.blob.core.windows.net",
            )
        # Emulator style (Azurite): the account is the first path segment.
        if len(segments) < 2 or not segments[1]:
            raise LocationInvalid(f"{url!r}: expected http://host/account/container/path")
        return Location(
            kind="azure",
            container=segments[1],
            prefix=segments[2] if len(segments) > 2 else "",
            account=segments[0],
            account_url=f"{scheme}://{parts.netloc}/{segments[0]}",
        )
    raise LocationInvalid(
        f"{url!r} is not a storage location: use abfss://container@account.dfs.core.windows"
        ".net/path, an https blob URL, or file:///folder"
    )


def open_store(location: Location, settings: Settings) -> BlobStore:
    if location.kind == "local":
        return LocalFolderStore(Path(location.container))
    if settings.local_inbox_dir is not None:
        return LocalFolderStore(settings.local_inbox_dir / location.container)
    return AzureBlobStore(_container_client(location, settings))


def _container_client(location: Location, settings: Settings) -> object:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    account_url = settings.blob_account_url or location.account_url
    if settings.blob_connection_string is not None:
        service = BlobServiceClient.from_connection_string(
            settings.blob_connection_string.get_secret_value()
        )
        return service.get_container_client(location.container)
    credential: object
    if settings.blob_account_key is not None:
        credential = {
            "account_name": location.account,
            "account_key": settings.blob_account_key.get_secret_value(),
        }
    elif settings.blob_sas_token is not None:
        credential = settings.blob_sas_token.get_secret_value()
    elif settings.blob_use_identity:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    else:
        raise LocationInvalid(
            "no storage credential: set LOCKGATE_BLOB_CONNECTION_STRING, _ACCOUNT_KEY, "
            "_SAS_TOKEN or _USE_IDENTITY (or LOCKGATE_LOCAL_INBOX_DIR for a local folder)"
        )
    return ContainerClient(account_url, location.container, credential=credential)
