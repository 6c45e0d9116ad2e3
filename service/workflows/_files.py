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
from service.workflows._issues import SpecIssue, WorkflowInvalid, format_path

BUNDLE_FILES = ("databricks.yml", "databricks.yaml")
DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class FileResult:
    path: Path
    definitions: tuple[WorkflowDefinition, ...] = ()
    errors: tuple[SpecIssue, ...] = ()


def read_definitions(path: Path) -> list[FileResult]:
    """One result per file read; a file's errors do not stop the others being read. A
    workflow name defined a second time is an error of the file that repeats it."""
    if path.is_dir():
        for bundle_name in BUNDLE_FILES:
            if (path / bundle_name).is_file():
                return _refuse_repeated_names([_read(path / bundle_name, base_dir=path)])
        files = sorted(p for p in path.iterdir() if p.suffix in DOCUMENT_SUFFIXES and p.is_file())
        if not files:
            return [FileResult(path, errors=(SpecIssue("$", "no .json/.yaml files here"),))]
        return _refuse_repeated_names([_read(file, base_dir=path) for file in files])
    if not path.is_file():
        return [FileResult(path, errors=(SpecIssue("$", "no such file or directory"),))]
    return _refuse_repeated_names([_read(path, base_dir=path.parent)])


def _refuse_repeated_names(results: list[FileResult]) -> list[FileResult]:
    """Applied one after the other, two definitions of one name would leave whichever came
    last (or fail half-way, after the first was written): the repeat is refused, so
    ``apply`` stops before it changes anything."""
    first: dict[str, Path] = {}
    checked: list[FileResult] = []
    for result in results:
        kept: list[WorkflowDefinition] = []
        errors = list(result.errors)
        for definition in result.definitions:
            where = first.setdefault(definition.name, result.path)
            if where == result.path and definition.name not in {d.name for d in kept}:
                kept.append(definition)
                continue
            elsewhere = "earlier in this file" if where == result.path else f"in {where}"
            errors.append(
                SpecIssue(
                    _name_path(definition),
                    f"workflow {definition.name!r} is already defined {elsewhere}; "
                    "define each workflow once",
                )
            )
        checked.append(FileResult(result.path, tuple(kept), tuple(errors)))
    return checked


def _name_path(definition: WorkflowDefinition) -> str:
    if definition.format == "bundle":
        jobs = definition.source.get("resources", {}).get("jobs", {})
        return format_path(("resources", "jobs", next(iter(jobs), ""), "name"))
    return "$.settings.name" if "settings" in definition.source else "$.name"


def _read(path: Path, *, base_dir: Path) -> FileResult:
    try:
        document = load_document(path.read_bytes(), content_type=_content_type(path))
        return FileResult(path, definitions=tuple(parse_document(document, base_dir=base_dir)))
    except WorkflowInvalid as invalid:
        return FileResult(path, errors=tuple(invalid.errors))


def _content_type(path: Path) -> str | None:
    return "application/json" if path.suffix == ".json" else "application/yaml"
