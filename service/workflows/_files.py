"""Reading workflow definitions from files and directories (for ``lockgate validate`` and
``lockgate apply``): a document file, a bundle directory (``databricks.yml``), or a
directory of document files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.workflows._definition import WorkflowDefinition
from service.workflows._document import load_document
from service.workflows._formats import parse_document
from service.workflows._issues import SpecIssue, WorkflowInvalid

BUNDLE_FILES = ("databricks.yml", "databricks.yaml")
DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class FileResult:
    path: Path
    definitions: tuple[WorkflowDefinition, ...] = ()
    errors: tuple[SpecIssue, ...] = ()


def read_definitions(path: Path) -> list[FileResult]:
    """One result per file read; a file's errors do not stop the others being read."""
    if path.is_dir():
        for bundle_name in BUNDLE_FILES:
            if (path / bundle_name).is_file():
                return [_read(path / bundle_name, base_dir=path)]
        files = sorted(p for p in path.iterdir() if p.suffix in DOCUMENT_SUFFIXES and p.is_file())
        if not files:
            return [FileResult(path, errors=(SpecIssue("$", "no .json/.yaml files here"),))]
        return [_read(file, base_dir=path) for file in files]
    if not path.is_file():
        return [FileResult(path, errors=(SpecIssue("$", "no such file or directory"),))]
    return [_read(path, base_dir=path.parent)]


def _read(path: Path, *, base_dir: Path) -> FileResult:
    try:
        document = load_document(path.read_bytes(), content_type=_content_type(path))
        return FileResult(path, definitions=tuple(parse_document(document, base_dir=base_dir)))
    except WorkflowInvalid as invalid:
        return FileResult(path, errors=tuple(invalid.errors))


def _content_type(path: Path) -> str | None:
    return "application/json" if path.suffix == ".json" else "application/yaml"
