"""``/api/2.0/workspace/...``: import, export, get-status, list, mkdirs and delete.

So notebooks and files reach the local workspace the way clients upload them
(``databricks workspace import``, ``WorkspaceClient.workspace.upload``). On disk a
notebook ``/Shared/etl/load`` is ``workspace_dir/Shared/etl/load.py`` (a source notebook
with its ``# Databricks notebook source`` header) or ``load.ipynb``; any other file is
stored under its own path. Python notebooks only: other languages cannot run here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shutil
from email.parser import BytesParser
from email.policy import default as email_policy
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request

from ._errors import ApiError, invalid_parameter
from ._http import MAX_BODY_BYTES, BackendDep, JsonBody, read_json_object
from ._notebook_source import NOTEBOOK_HEADER
from ._payload import JsonObject, get_bool, get_str, require_str

router = APIRouter()

_IMPORT_FORMATS = ("AUTO", "SOURCE", "JUPYTER", "RAW", "HTML", "DBC", "R_MARKDOWN")


def _does_not_exist(path: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")


def _local(root: Path, path: str) -> Path:
    if not path.startswith("/"):
        raise invalid_parameter(f"Path ({path}) must be absolute")
    relative = path.removeprefix("/Workspace").lstrip("/") if path != "/" else ""
    candidate = (root / relative).resolve()
    if candidate != root.resolve() and root.resolve() not in candidate.parents:
        raise invalid_parameter(f"Path ({path}) leaves the workspace")
    return candidate


def _find(root: Path, path: str) -> tuple[str, Path]:
    """(object_type, local file) of an existing object, or a 404."""
    local = _local(root, path)
    if local.is_dir():
        return "DIRECTORY", local
    for suffix in (".py", ".ipynb"):
        notebook = local.with_name(local.name + suffix)
        if notebook.is_file() and _is_notebook(notebook):
            return "NOTEBOOK", notebook
    if local.is_file():
        return ("NOTEBOOK" if _is_notebook(local) and local.suffix == ".ipynb" else "FILE"), local
    raise _does_not_exist(path)


def _is_notebook(file: Path) -> bool:
    if file.suffix == ".ipynb":
        return True
    with file.open("rb") as handle:
        return handle.readline().strip() == NOTEBOOK_HEADER.encode()


def _info(root: Path, path: str, kind: str, local: Path) -> JsonObject:
    stat = local.stat()
    info: JsonObject = {
        "path": path.rstrip("/") or "/",
        "object_type": kind,
        "object_id": int(hashlib.sha256(path.encode()).hexdigest()[:12], 16),
        "created_at": int(stat.st_ctime * 1000),
        "modified_at": int(stat.st_mtime * 1000),
    }
    if kind == "NOTEBOOK":
        info["language"] = "PYTHON"
    if kind != "DIRECTORY":
        info["size"] = stat.st_size
    return info


@router.get("/get-status")
def get_status(backend: BackendDep, path: str) -> JsonObject:
    kind, local = _find(backend.config.workspace_dir, path)
    return _info(backend.config.workspace_dir, path, kind, local)


@router.get("/list")
def list_objects(backend: BackendDep, path: str) -> JsonObject:
    root = backend.config.workspace_dir
    kind, local = _find(root, path)
    if kind != "DIRECTORY":
        return {"objects": [_info(root, path, kind, local)]}
    objects = []
    for entry in sorted(local.iterdir()):
        name = entry.name
        if entry.is_file() and entry.suffix in (".py", ".ipynb") and _is_notebook(entry):
            name = entry.stem
        child = str(PurePosixPath(path) / name)
        child_kind, child_local = _find(root, child)
        objects.append(_info(root, child, child_kind, child_local))
    return {"objects": objects} if objects else {}


@router.post("/mkdirs")
def mkdirs(backend: BackendDep, payload: JsonBody) -> JsonObject:
    path = require_str(payload, "path", "")
    local = _local(backend.config.workspace_dir, path)
    if local.is_file():
        raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists as a file")
    local.mkdir(parents=True, exist_ok=True)
    return {}


@router.post("/delete")
def delete(backend: BackendDep, payload: JsonBody) -> JsonObject:
    path = require_str(payload, "path", "")
    recursive = get_bool(payload, "recursive", "", default=False)
    kind, local = _find(backend.config.workspace_dir, path)
    if kind == "DIRECTORY":
        if any(local.iterdir()) and not recursive:
            raise ApiError(
                400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty; set recursive"
            )
        shutil.rmtree(local)
    else:
        local.unlink()
    return {}


async def _import_request(request: Request) -> tuple[JsonObject, bytes]:
    """The fields and the content of an import: JSON (content in base64) or, as the SDK's
    ``workspace.upload`` sends it, multipart/form-data (content as a raw file part)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        payload = await read_json_object(request)
        try:
            content = base64.b64decode(get_str(payload, "content", "") or "", validate=True)
        except (binascii.Error, ValueError):
            raise invalid_parameter("content must be base64") from None
        return payload, content
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise invalid_parameter("the request body is larger than 10 MB")
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: JsonObject = {}
    content = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if name == "content":
            content = bytes(data)
        elif isinstance(name, str):
            value = bytes(data).decode("utf-8")
            fields[name] = value == "true" if name == "overwrite" else value
    return fields, content


@router.post("/import")
async def import_object(backend: BackendDep, request: Request) -> JsonObject:
    payload, content = await _import_request(request)
    path = require_str(payload, "path", "")
    form = get_str(payload, "format", "") or "SOURCE"
    if form not in _IMPORT_FORMATS:
        raise invalid_parameter(f"format must be one of {', '.join(_IMPORT_FORMATS)}")
    if form not in ("AUTO", "SOURCE", "JUPYTER", "RAW"):
        raise invalid_parameter(f"format {form} is not supported by the local backend")
    language = get_str(payload, "language", "")
    if language not in (None, "PYTHON"):
        raise invalid_parameter(
            f"language {language}: the local backend only keeps Python notebooks"
        )
    root = backend.config.workspace_dir
    local = _local(root, path)
    target = _import_target(local, path, form, content)
    if not get_bool(payload, "overwrite", "", default=False):
        try:
            _find(root, path)
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
        except ApiError as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    if not local.parent.is_dir():
        raise _does_not_exist(str(PurePosixPath(path).parent))
    target.write_bytes(content)
    return {}


def _import_target(local: Path, path: str, form: str, content: bytes) -> Path:
    if form == "JUPYTER" or (form == "AUTO" and path.endswith(".ipynb")):
        return local if local.suffix == ".ipynb" else local.with_name(local.name + ".ipynb")
    if form == "RAW" or (form == "AUTO" and not content.startswith(NOTEBOOK_HEADER.encode())):
        return local
    # SOURCE (or AUTO with the header): a source notebook, kept as <name>.py.
    if not content.lstrip().startswith(NOTEBOOK_HEADER.encode()):
        raise invalid_parameter(
            f"SOURCE content for {path} must be a Python source notebook "
            f"(first line {NOTEBOOK_HEADER!r})"
        )
    name = local.name.removesuffix(".py")
    return local.with_name(name + ".py")


@router.get("/export")
def export_object(backend: BackendDep, path: str, format: str = "SOURCE") -> JsonObject:
    kind, local = _find(backend.config.workspace_dir, path)
    if kind == "DIRECTORY":
        raise invalid_parameter(f"Path ({path}) is a directory; export needs a notebook or file")
    if format not in ("SOURCE", "JUPYTER", "AUTO", "RAW"):
        raise invalid_parameter(f"format {format} is not supported by the local backend")
    if format == "JUPYTER" and local.suffix != ".ipynb":
        raise invalid_parameter(f"{path} is a source notebook; export it as SOURCE")
    body: JsonObject = {"content": base64.b64encode(local.read_bytes()).decode()}
    if kind == "NOTEBOOK":
        body["file_type"] = "ipynb" if local.suffix == ".ipynb" else "py"
    return body
