"""Databricks Asset Bundle YAML: each ``resources.jobs.<key>`` (in ``databricks.yml`` or
an ``include``d file) becomes one workflow.

What a bundle adds over Jobs JSON is resolved here, before the job is checked like any
Jobs JSON: ``include`` globs (relative to the bundle directory), ``variables`` with their
defaults and a target's overrides (``${var.name}``, in ``_bundle_variables``),
``${bundle.name}``/``${bundle.target}``/``${workspace.*}``, a target's ``resources``
merged over the top-level ones, and paths relative to the YAML file, which become the
workspace paths ``databricks bundle deploy`` uploads them to. Each workflow's stored
source is its job alone, resolved, so it reads the same later without the bundle
directory.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from service.workflows._bundle_variables import INTERPOLATION, interpolate, read_variables
from service.workflows._definition import WorkflowDefinition
from service.workflows._document import load_document
from service.workflows._issues import (
    Loc,
    SpecIssue,
    WorkflowInvalid,
    format_path,
    issue,
    sorted_by_path,
)
from service.workflows._jobs_import import definition_from_settings

_NOTEBOOK_SUFFIXES = (".py", ".ipynb", ".sql", ".scala", ".r", ".R")
# Fields holding a path a bundle may write relative to its YAML file.
_PATH_FIELDS = (
    ("notebook_task", "notebook_path"),
    ("spark_python_task", "python_file"),
)


def parse_bundle(
    document: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    target: str | None = None,
) -> list[WorkflowDefinition]:
    """Every job of the bundle as a definition; raises ``WorkflowInvalid`` with all
    problems of all jobs (paths under ``$.resources.jobs.<key>``)."""
    errors: list[SpecIssue] = []
    warnings: list[SpecIssue] = []
    bundle = copy.deepcopy(dict(document))
    jobs = _jobs(bundle, base_dir, errors)
    target_name = _target(bundle, target, errors)
    overrides = (bundle.get("targets") or {}).get(target_name) or {} if target_name else {}
    if isinstance(overrides, Mapping):
        for key, job in ((overrides.get("resources") or {}).get("jobs") or {}).items():
            if key in jobs and isinstance(job, Mapping):
                jobs[key] = (_merge(jobs[key][0], job), jobs[key][1])
    bundle_name = str((bundle.get("bundle") or {}).get("name") or "bundle")
    variables = read_variables(bundle, overrides, errors)
    root_path = str(
        (bundle.get("workspace") or {}).get("root_path")
        or f"/Workspace/Shared/.bundle/{bundle_name}/{target_name or 'default'}"
    )
    names = {"bundle.name": bundle_name, "bundle.target": target_name or "default"}
    root_path = INTERPOLATION.sub(lambda match: names.get(match[1], match[0]), root_path)
    names["workspace.root_path"] = root_path
    names["workspace.file_path"] = f"{root_path}/files"
    context: dict[str, Any] = {
        **names,
        **{f"var.{name}": value for name, value in variables.values.items()},
    }
    if not jobs and not errors:
        errors.append(
            issue(("resources", "jobs"), "the bundle defines no jobs under resources.jobs")
        )
    definitions: list[WorkflowDefinition] = []
    for key, (job, origin) in jobs.items():
        loc: Loc = ("resources", "jobs", key)
        if not isinstance(job, Mapping):
            errors.append(issue(loc, "a job must be a mapping of job settings"))
            continue
        resolved = interpolate(dict(job), loc, context, variables, (errors, warnings))
        if "permissions" in resolved:
            del resolved["permissions"]
            warnings.append(
                issue((*loc, "permissions"), "is ignored: Lockgate does not manage permissions")
            )
        _resolve_paths(resolved, loc, origin, base_dir, names["workspace.file_path"], warnings)
        source = {"bundle": {"name": bundle_name}, "resources": {"jobs": {key: resolved}}}
        try:
            definition = definition_from_settings(
                resolved, loc, source=source, format="bundle", fallback_name=key
            )
        except WorkflowInvalid as invalid:
            errors += _in_file(invalid.errors, origin, base_dir)
            continue
        all_warnings = [w for w in warnings if _belongs_to(w, loc)]
        definitions.append(_with_warnings(definition, [*all_warnings, *definition.warnings]))
    if errors:
        raise WorkflowInvalid(sorted_by_path(errors))
    return definitions


def is_bundle(document: Mapping[str, Any]) -> bool:
    return any(key in document for key in ("resources", "bundle", "include", "targets"))


def bundle_document(key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A one-job bundle holding ``settings`` (used by export)."""
    return {"resources": {"jobs": {key: dict(settings)}}}


def _jobs(
    bundle: dict[str, Any], base_dir: Path | None, errors: list[SpecIssue]
) -> dict[str, tuple[Any, Path | None]]:
    """Job key -> (job mapping, the file it came from; None for the main document)."""
    jobs: dict[str, tuple[Any, Path | None]] = {
        str(key): (job, None) for key, job in _resource_jobs(bundle, (), errors).items()
    }
    includes = bundle.get("include") or []
    if not isinstance(includes, list):
        errors.append(issue(("include",), "must be a list of file patterns"))
        return jobs
    if includes and base_dir is None:
        errors.append(
            issue(
                ("include",),
                "include files are read relative to the bundle directory, which the API "
                "does not have; run `lockgate apply -f DIR` on the bundle directory",
            )
        )
        return jobs
    for position, pattern in enumerate(includes):
        if not isinstance(pattern, str) or base_dir is None:
            continue
        matches = sorted(base_dir.glob(pattern))
        if not matches:
            errors.append(issue(("include", position), f"{pattern!r} matches no file"))
        for path in matches:
            try:
                included = load_document(path.read_bytes(), content_type="application/yaml")
            except WorkflowInvalid as invalid:
                errors += _in_file(invalid.errors, path, base_dir)
                continue
            for key, job in _resource_jobs(included, (), errors).items():
                if key in jobs:
                    errors.append(
                        issue(
                            ("resources", "jobs", key),
                            f"job {key!r} is defined twice (again in {_relative(path, base_dir)})",
                        )
                    )
                else:
                    jobs[key] = (job, path)
    return jobs


def _resource_jobs(
    document: Mapping[str, Any], loc: Loc, errors: list[SpecIssue]
) -> dict[str, Any]:
    resources = document.get("resources")
    if resources is None:
        return {}
    jobs = resources.get("jobs") if isinstance(resources, Mapping) else None
    if resources is not None and not isinstance(resources, Mapping):
        errors.append(issue((*loc, "resources"), "must be a mapping (jobs: ...)"))
        return {}
    if jobs is None:
        return {}
    if not isinstance(jobs, Mapping):
        errors.append(issue((*loc, "resources", "jobs"), "must map job keys to job settings"))
        return {}
    return {str(key): job for key, job in jobs.items()}


def _target(bundle: Mapping[str, Any], wanted: str | None, errors: list[SpecIssue]) -> str | None:
    targets = bundle.get("targets")
    if not isinstance(targets, Mapping) or not targets:
        if wanted is not None:
            errors.append(issue(("targets",), f"the bundle defines no target {wanted!r}"))
        return wanted
    if wanted is not None:
        if wanted not in targets:
            errors.append(
                issue(
                    ("targets",),
                    f"the bundle defines no target {wanted!r} ({', '.join(map(str, targets))})",
                )
            )
        return wanted
    for name, spec in targets.items():
        if isinstance(spec, Mapping) and spec.get("default") is True:
            return str(name)
    return str(next(iter(targets)))


def _resolve_paths(
    job: dict[str, Any],
    loc: Loc,
    origin: Path | None,
    base_dir: Path | None,
    file_path: str,
    warnings: list[SpecIssue],
) -> None:
    tasks = job.get("tasks")
    if not isinstance(tasks, list):
        return
    folder = PurePosixPath(".")
    if origin is not None and base_dir is not None:
        folder = PurePosixPath(origin.parent.relative_to(base_dir).as_posix())
    for position, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        for kind, field in _PATH_FIELDS:
            body = task.get(kind)
            if not isinstance(body, dict) or body.get("source") == "GIT":
                continue
            path = body.get(field)
            if not isinstance(path, str) or not path or path.startswith("/") or ":" in path:
                continue
            relative = _normalise(folder / path)
            if kind == "notebook_task":
                for suffix in _NOTEBOOK_SUFFIXES:
                    if relative.endswith(suffix):
                        relative = relative[: -len(suffix)]
                        break
            body[field] = f"{file_path}/{relative}"
            warnings.append(
                issue(
                    (*loc, "tasks", position, kind, field),
                    f"{path!r} is relative to the bundle; it runs as {body[field]!r}, where "
                    "`databricks bundle deploy` puts the bundle's files",
                )
            )


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _merge(base: Any, override: Any) -> Any:
    """A target's settings over the top-level ones: mappings merge key by key, lists of
    tasks / job clusters merge by their key, anything else is replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        for key_field in ("task_key", "job_cluster_key"):
            if all(isinstance(item, Mapping) and key_field in item for item in base + override):
                merged_list = list(base)
                index = {item[key_field]: i for i, item in enumerate(merged_list)}
                for item in override:
                    if item[key_field] in index:
                        position = index[item[key_field]]
                        merged_list[position] = _merge(merged_list[position], item)
                    else:
                        merged_list.append(item)
                return merged_list
    return override


def _in_file(found: list[SpecIssue], origin: Path | None, base_dir: Path | None) -> list[SpecIssue]:
    if origin is None:
        return found
    where = _relative(origin, base_dir)
    return [SpecIssue(path=item.path, message=f"in {where}: {item.message}") for item in found]


def _relative(path: Path, base_dir: Path | None) -> str:
    if base_dir is None:
        return path.name
    try:
        return path.relative_to(base_dir).as_posix()
    except ValueError:
        return str(path)


def _belongs_to(found: SpecIssue, loc: Loc) -> bool:
    prefix = format_path(loc)
    return found.path == prefix or found.path[len(prefix) : len(prefix) + 1] in (".", "[")


def _with_warnings(definition: WorkflowDefinition, warnings: list[SpecIssue]) -> WorkflowDefinition:
    return replace(definition, warnings=tuple(sorted_by_path(warnings)))
