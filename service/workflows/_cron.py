"""Cron expressions: checking them field by field, and Unix (5 fields) to Quartz.

Databricks schedules take Quartz (``sec min hour day-of-month month day-of-week [year]``,
``?`` in exactly one day field, day-of-week 1-7 = SUN-SAT). The seed format wrote Unix
cron (``0 2 * * *``) and sent it to Databricks unchanged, which Databricks rejects; we
convert it. Checks are our own, per field, so a message can say *which* field is wrong;
croniter then double-checks Unix expressions (it does not read Quartz).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from croniter import croniter


class CronInvalid(ValueError):
    """The expression cannot be used; the message names the field and the fix."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for the value ``name_base + i``
    name_base: int = 0


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTHS, 1)
_UNIX_FIELDS = (_MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _Field("day-of-week", 0, 7, _DAYS, 0))
_QUARTZ_FIELDS = (
    _Field("second", 0, 59),
    _MINUTE,
    _HOUR,
    _DAY_OF_MONTH,
    _MONTH,
    _Field("day-of-week", 1, 7, _DAYS, 1),
    _Field("year", 1970, 2099),
)

_UNIX_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_ELEMENT = re.compile(r"^(?P<base>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")
# Quartz-only day specials: last day (L, L-3, LW), nearest weekday (15W), last Friday of
# the month (6L / FRIL), third Monday (2#3).
_QUARTZ_DAY_OF_MONTH_SPECIAL = re.compile(r"^(L|LW|L-[0-9]{1,2}|[0-9]{1,2}W)$")
_QUARTZ_DAY_OF_WEEK_SPECIAL = re.compile(r"^(L|([1-7]|[A-Z]{3})L|([1-7]|[A-Z]{3})#[1-5])$")
_QUARTZ_MARKS = re.compile(r"[?#LW]")


def to_quartz(expression: str) -> tuple[str, bool]:
    """Returns the Quartz form and whether it was converted from Unix cron.

    6-7 fields are read as Quartz and returned as given (after checking); 5 fields and
    ``@daily``-style macros are Unix cron and converted.
    """
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text.lower() not in _UNIX_MACROS:
            raise CronInvalid(
                f"`{text}` is not a schedule; use @hourly, @daily, @weekly, @monthly or "
                "@yearly, or a cron expression"
            )
        text = _UNIX_MACROS[text.lower()]
    fields = text.split()
    if len(fields) == 5:
        return _unix_to_quartz(fields, text), True
    if len(fields) in (6, 7):
        _check_quartz(fields, text)
        return text, False
    raise CronInvalid(
        f"`{expression}` has {len(fields)} fields; write Unix cron with 5 fields "
        "(`0 2 * * *`) or Quartz with 6 or 7 (`0 0 2 * * ?`)"
    )


def _unix_to_quartz(fields: list[str], text: str) -> str:
    for value, spec in zip(fields, _UNIX_FIELDS, strict=True):
        _check_field(value, spec, text, quartz=False)
    if not croniter.is_valid(text):
        raise CronInvalid(f"`{text}` is not a valid cron expression")
    minute, hour, day_of_month, month, day_of_week = fields
    if day_of_month != "*" and day_of_week != "*":
        raise CronInvalid(
            f"`{text}` sets both day-of-month and day-of-week; Unix cron runs when either "
            "matches, which Quartz cannot express: keep one of them and make the other `*`"
        )
    if day_of_week == "*":
        quartz_day_of_month, quartz_day_of_week = day_of_month, "?"
    else:
        quartz_day_of_month, quartz_day_of_week = "?", _quartz_day_of_week(day_of_week)
    return f"0 {minute} {hour} {quartz_day_of_month} {month} {quartz_day_of_week}"


def _quartz_day_of_week(unix_field: str) -> str:
    """Unix 0-7 (0 and 7 are Sunday) -> Quartz 1-7 (1 is Sunday); names stay names."""
    return ",".join(_quartz_day_of_week_element(element) for element in unix_field.split(","))


def _quartz_day_of_week_element(element: str) -> str:
    match = _ELEMENT.match(element)
    assert match is not None  # checked by _check_field
    base, step = match["base"], match["step"]
    suffix = f"/{step}" if step else ""
    if base == "*":
        return f"1/{step}" if step else "*"
    parts = base.upper().split("-")
    if all(part.isalpha() for part in parts):
        return element  # names (MON-FRI) mean the same in both dialects
    # A range mixing a name and a number (MON-5) is shifted as numbers: left as written,
    # Quartz would read its number the Quartz way (MON-5 = Mon-Thu).
    start, _, end = "-".join(str(_unix_day(part)) for part in parts).partition("-")
    first = int(start)
    if not end:
        # ``5/2`` in Unix runs to Saturday (6); Quartz's ``6/2`` runs to 7, the same day.
        return f"{first % 7 + 1}{suffix}"
    last = int(end)
    if last < 7:
        return f"{first + 1}-{last + 1}{suffix}"
    # A range through 7 (Sunday again) wraps in Quartz numbering: list the days.
    days = sorted({day % 7 + 1 for day in range(first, last + 1, int(step or 1))})
    return ",".join(str(day) for day in days)


def _unix_day(part: str) -> int:
    """A checked Unix day-of-week value, a number (0-7) or a name (SUN = 0)."""
    return int(part) if part.isdigit() else _DAYS.index(part)


def _check_quartz(fields: list[str], text: str) -> None:
    for value, spec in zip(fields, _QUARTZ_FIELDS, strict=False):
        _check_field(value, spec, text, quartz=True)
    day_of_month, day_of_week = fields[3], fields[5]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise CronInvalid(
            f"`{text}` must have `?` in exactly one of day-of-month (4th field) and "
            "day-of-week (6th field), as Quartz requires: e.g. `0 0 2 * * ?`"
        )


def _check_field(value: str, spec: _Field, text: str, *, quartz: bool) -> None:
    where = f"the {spec.name} field `{value}` of `{text}`"
    upper = value.upper()
    if quartz and spec.name in ("day-of-month", "day-of-week") and upper == "?":
        return
    for element in upper.split(","):
        if quartz and spec.name == "day-of-month" and _QUARTZ_DAY_OF_MONTH_SPECIAL.match(element):
            continue
        if quartz and spec.name == "day-of-week" and _QUARTZ_DAY_OF_WEEK_SPECIAL.match(element):
            continue
        try:
            _check_element(element, spec, where, allow_reversed_range=quartz)
        except CronInvalid:
            if quartz or not _QUARTZ_MARKS.search(element):
                raise
            raise CronInvalid(
                f"{where} uses Quartz syntax (`?`, `L`, `W`, `#`); in a 5-field Unix "
                "expression use plain values, or write the whole schedule as 6-field Quartz"
            ) from None


def _check_element(element: str, spec: _Field, where: str, *, allow_reversed_range: bool) -> None:
    match = _ELEMENT.match(element)
    if match is None:
        raise CronInvalid(f"{where} is not a value, range (`1-5`), list (`1,3`) or step (`*/5`)")
    if match["step"] is not None and int(match["step"]) == 0:
        raise CronInvalid(f"{where} has a step of 0; steps start at 1")
    if match["base"] == "*":
        return
    bounds = [_field_value(part, spec, where) for part in match["base"].split("-")]
    if len(bounds) == 2 and bounds[0] > bounds[1] and not allow_reversed_range:
        raise CronInvalid(f"{where} has a range that runs backwards; write the smaller end first")


def _field_value(part: str, spec: _Field, where: str) -> int:
    if part.isdigit():
        number = int(part)
    elif part in spec.names:
        number = spec.names.index(part) + spec.name_base
    else:
        names = f" or a name ({spec.names[0]}-{spec.names[-1]})" if spec.names else ""
        raise CronInvalid(f"{where}: `{part}` is not a number{names}")
    if not spec.low <= number <= spec.high:
        raise CronInvalid(f"{where}: {number} is out of range {spec.low}-{spec.high}")
    return number
