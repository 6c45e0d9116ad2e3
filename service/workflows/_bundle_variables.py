"""A bundle's ``variables`` and its ``${...}`` interpolation.

A variable's value is its ``default``, or what the chosen target sets. Three kinds need
more than text substitution:

- a ``complex`` variable holds a mapping or a list; used as a whole value
  (``new_cluster: ${var.cluster}``) it becomes a copy of that value, itself interpolated;
  inside other text it cannot be spelled, and is an error;
- a ``lookup`` variable (``lookup: {cluster: "shared"}``) is an id that only
  ``databricks bundle deploy`` finds in the workspace; without a default or a target value
  it is kept as written, with a warning saying so (not "undeclared");
- ``${bundle.*}``, ``${workspace.*}`` come from the bundle; any other name (such as
  ``${resources.jobs.x.id}``) is kept as written, with a warning.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.workflows._issues import Loc, SpecIssue, issue

INTERPOLATION = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
# Keys of a variable's settings (as opposed to a complex variable's own mapping value).
_SPEC_KEYS = frozenset({"default", "lookup", "description", "type"})


@dataclass(frozen=True)
class BundleVariables:
    values: dict[str, Any]  # name -> text, or a mapping / list for a complex variable
    lookups: frozenset[str]  # declared as lookups, with no value Lockgate can use


def read_variables(
    bundle: Mapping[str, Any], target: Mapping[str, Any], errors: list[SpecIssue]
) -> BundleVariables:
    values: dict[str, Any] = {}
    lookups: set[str] = set()
    declared = bundle.get("variables") or {}
    if not isinstance(declared, Mapping):
        errors.append(issue(("variables",), "must map variable names to their settings"))
        return BundleVariables({}, frozenset())
    overrides = target.get("variables") or {}
    for name, spec in [*declared.items(), *overrides.items()]:
        name = str(name)
        if isinstance(spec, Mapping) and spec and set(spec) <= _SPEC_KEYS:
            if spec.get("default") is not None:
                values[name] = _value(spec["default"])
                lookups.discard(name)
            elif spec.get("lookup") is not None:
                values.pop(name, None)
                lookups.add(name)
        elif spec is not None:  # a target's plain value, or a complex variable's mapping
            values[name] = _value(spec)
            lookups.discard(name)
    return BundleVariables(values, frozenset(lookups))


def interpolate(
    value: Any,
    loc: Loc,
    context: Mapping[str, Any],
    variables: BundleVariables,
    found: tuple[list[SpecIssue], list[SpecIssue]],
    expanding: frozenset[str] = frozenset(),
) -> Any:
    """``value`` with every ``${name}`` in ``context`` replaced; ``found`` is (errors,
    warnings). ``expanding`` holds the complex variables being substituted (a variable
    that contains itself is an error, not a loop)."""
    errors, warnings = found
    if isinstance(value, str):
        whole = INTERPOLATION.fullmatch(value)
        if whole is not None and isinstance(context.get(whole[1]), dict | list):
            name = whole[1]
            if name in expanding:
                errors.append(issue(loc, f"`${{{name}}}` contains itself"))
                return value
            return interpolate(
                copy.deepcopy(context[name]), loc, context, variables, found, expanding | {name}
            )

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            known = context.get(name)
            if isinstance(known, str):
                return known
            if known is not None:
                errors.append(
                    issue(
                        loc,
                        f"`${{{name}}}` is a complex variable (a mapping or a list): use it as "
                        "the whole value, not inside text",
                    )
                )
            elif name.startswith("var.") and name[4:] in variables.lookups:
                warnings.append(
                    issue(
                        loc,
                        f"`${{{name}}}` is a lookup variable, resolved only by `databricks "
                        "bundle deploy`; kept as written (give it a default or a target value "
                        "for Lockgate to use)",
                    )
                )
            elif name.startswith("var."):
                errors.append(
                    issue(loc, f"`${{{name}}}` names a variable the bundle does not declare")
                )
            else:
                warnings.append(
                    issue(
                        loc,
                        f"`${{{name}}}` is only known to `databricks bundle deploy`; "
                        "kept as written",
                    )
                )
            return match.group(0)

        return INTERPOLATION.sub(replace, value)
    if isinstance(value, dict):
        return {
            k: interpolate(v, (*loc, str(k)), context, variables, found, expanding)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate(v, (*loc, i), context, variables, found, expanding)
            for i, v in enumerate(value)
        ]
    return value


def _value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return copy.deepcopy(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
