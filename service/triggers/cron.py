"""Cron fire times: Quartz (6-7 fields, ``?``, ``L``, ``W``, ``#``, day-of-week 1-7 =
SUN-SAT) and Unix (5 fields, day-of-week 0-7, day-of-month OR day-of-week), in any IANA
(= Java) time zone. Pure: ``next_fire(spec, after)`` is a function of its arguments.

Why not croniter: it reads neither ``W`` nor Quartz's day-of-week numbering, and its DST
handling differs between versions; one evaluator for both dialects keeps the DST rule
the same for both. croniter is the oracle in the tests for Unix expressions.

DST (the rule Java's lenient calendar, and so Quartz, applies):

- a wall time that does not exist (spring forward) fires at the same distance past the
  gap: 02:30 on a day that jumps from 02:00 to 03:00 fires at 03:30;
- a wall time that occurs twice (fall back) fires once, at its first occurrence, unless
  the hour field is ``*``: then the expression asks for "every hour" and the repeated
  hour fires as well (as Vixie cron does for wildcard hours), so an every-15-minutes
  schedule keeps running in real time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_UNIX_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ELEMENT = re.compile(r"^(\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:/([0-9]+))?$")
_SEARCH_YEARS = 8


class CronError(ValueError):
    """The expression cannot be evaluated; the message names the field."""


@dataclass(frozen=True)
class CronSpec:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int] | None
    # Day rules: each is a predicate description evaluated per date.
    dom_values: frozenset[int]
    dom_specials: tuple[str, ...]  # L, L-3, LW, 15W
    dom_any: bool
    dow_values: frozenset[int]  # Quartz numbering 1-7 = SUN-SAT
    dow_specials: tuple[str, ...]  # 6L, 2#3
    dow_any: bool
    either_day: bool  # Unix: day-of-month OR day-of-week when both are restricted
    zone: ZoneInfo

    @property
    def every_hour(self) -> bool:
        return len(self.hours) == 24


@lru_cache(maxsize=4096)
def parse(expression: str, timezone: str = "UTC") -> CronSpec:
    """Parsed once per (expression, zone) per process: schedulers re-read the same few
    expressions on every fire."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"{timezone!r} is not a time zone id (e.g. Europe/Berlin)") from exc
    text = " ".join(expression.upper().split())
    if text.startswith("@"):
        if text.lower() not in _UNIX_MACROS:
            raise CronError(f"`{expression}` is not a known macro")
        text = _UNIX_MACROS[text.lower()]
    fields = text.split()
    if len(fields) == 5:
        return _parse_unix(fields, zone)
    if len(fields) in (6, 7):
        return _parse_quartz(fields, zone)
    raise CronError(f"`{expression}` has {len(fields)} fields; cron has 5 (Unix) or 6-7 (Quartz)")


def _parse_unix(fields: list[str], zone: ZoneInfo) -> CronSpec:
    minute, hour, dom, month, dow = fields
    dow_values = frozenset(v % 7 + 1 for v in _values(dow, "day-of-week", 0, 7, _DAYS, 0))
    return CronSpec(
        seconds=frozenset({0}),
        minutes=_values(minute, "minute", 0, 59),
        hours=_values(hour, "hour", 0, 23),
        months=_values(month, "month", 1, 12, _MONTHS, 1),
        years=None,
        dom_values=_values(dom, "day-of-month", 1, 31),
        dom_specials=(),
        dom_any=dom == "*",
        dow_values=dow_values,
        dow_specials=(),
        dow_any=dow == "*",
        either_day=dom != "*" and dow != "*",
        zone=zone,
    )


def _parse_quartz(fields: list[str], zone: ZoneInfo) -> CronSpec:
    second, minute, hour, dom, month, dow = fields[:6]
    year = fields[6] if len(fields) == 7 else None
    if (dom == "?") == (dow == "?"):
        raise CronError("Quartz needs `?` in exactly one of day-of-month and day-of-week")
    dom_plain, dom_specials = _split_specials(dom, r"^(L|LW|L-\d{1,2}|\d{1,2}W)$")
    dow_plain, dow_specials = _split_specials(dow, r"^(([1-7]|[A-Z]{3})L|([1-7]|[A-Z]{3})#[1-5])$")
    if dow == "L":  # "L" alone in day-of-week is the last day of the week: Saturday
        dow_plain, dow_specials = "7", ()
    return CronSpec(
        seconds=_values(second, "second", 0, 59),
        minutes=_values(minute, "minute", 0, 59),
        hours=_values(hour, "hour", 0, 23),
        months=_values(month, "month", 1, 12, _MONTHS, 1),
        years=None if year in (None, "*") else _values(year or "", "year", 1970, 2099),
        dom_values=_values(dom_plain, "day-of-month", 1, 31) if dom_plain else frozenset(),
        dom_specials=dom_specials,
        dom_any=dom in ("?", "*"),
        dow_values=_values(dow_plain, "day-of-week", 1, 7, _DAYS, 1) if dow_plain else frozenset(),
        dow_specials=dow_specials,
        dow_any=dow in ("?", "*"),
        either_day=False,
        zone=zone,
    )


def _split_specials(field: str, special: str) -> tuple[str, tuple[str, ...]]:
    if field == "?":
        return "*", ()
    plain: list[str] = []
    specials: list[str] = []
    for element in field.split(","):
        (specials if re.match(special, element) else plain).append(element)
    return ",".join(plain), tuple(specials)


def _number(part: str, name: str, names: tuple[str, ...], base: int) -> int:
    if part.isdigit():
        return int(part)
    if part in names:
        return names.index(part) + base
    raise CronError(f"the {name} field: `{part}` is not a number or name")


def _values(
    field: str, name: str, low: int, high: int, names: tuple[str, ...] = (), base: int = 0
) -> frozenset[int]:
    found: set[int] = set()
    for element in field.split(","):
        match = _ELEMENT.match(element)
        if match is None:
            raise CronError(f"the {name} field: `{element}` is not a value, range or step")
        body, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step == 0:
            raise CronError(f"the {name} field: a step of 0")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-")
            start, end = _number(first, name, names, base), _number(last, name, names, base)
        else:
            start = _number(body, name, names, base)
            end = high if step_text else start
        for bound in (start, end):
            if not low <= bound <= high:
                raise CronError(f"the {name} field: {bound} is outside {low}-{high}")
        span = end - start if end >= start else end + (high - low + 1) - start  # wraps
        for offset in range(0, span + 1, step):
            found.add(low + (start - low + offset) % (high - low + 1))
    return frozenset(found)


def _quartz_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Monday=0 in Python -> 2 in Quartz


def _dom_matches(spec: CronSpec, day: date) -> bool:
    if day.day in spec.dom_values:
        return True
    last = calendar.monthrange(day.year, day.month)[1]
    for special in spec.dom_specials:
        if special == "L" and day.day == last:
            return True
        if special.startswith("L-") and day.day == max(1, last - int(special[2:])):
            return True
        if special == "LW" and day == _nearest_weekday(day.replace(day=last)):
            return True
        if special.endswith("W") and special[:-1].isdigit():
            target = int(special[:-1])
            if target <= last and day == _nearest_weekday(day.replace(day=target)):
                return True
    return False


def _nearest_weekday(day: date) -> date:
    """Quartz ``W``: the weekday nearest to ``day`` without leaving its month."""
    if day.weekday() == 5:  # Saturday -> Friday, or Monday if that would leave the month
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    if day.weekday() == 6:  # Sunday -> Monday, or Friday at the month's end
        last = calendar.monthrange(day.year, day.month)[1]
        return day + timedelta(days=1) if day.day < last else day - timedelta(days=2)
    return day


def _dow_matches(spec: CronSpec, day: date) -> bool:
    weekday = _quartz_weekday(day)
    if weekday in spec.dow_values:
        return True
    last = calendar.monthrange(day.year, day.month)[1]
    for special in spec.dow_specials:
        if special.endswith("L"):
            wanted = _number(special[:-1], "day-of-week", _DAYS, 1)
            if weekday == wanted and day.day + 7 > last:
                return True
        else:
            which, nth = special.split("#")
            if weekday == _number(which, "day-of-week", _DAYS, 1) and (day.day - 1) // 7 + 1 == int(
                nth
            ):
                return True
    return False


def day_matches(spec: CronSpec, day: date) -> bool:
    if day.month not in spec.months or (spec.years is not None and day.year not in spec.years):
        return False
    if spec.either_day:
        return _dom_matches(spec, day) or _dow_matches(spec, day)
    dom_ok = spec.dom_any or _dom_matches(spec, day)
    dow_ok = spec.dow_any or _dow_matches(spec, day)
    return dom_ok and dow_ok


def _times(spec: CronSpec, not_before: time | None) -> Iterator[time]:
    for hour in sorted(spec.hours):
        if not_before is not None and hour < not_before.hour:
            continue
        for minute in sorted(spec.minutes):
            if not_before is not None and (hour, minute) < (not_before.hour, not_before.minute):
                continue
            for second in sorted(spec.seconds):
                moment = time(hour, minute, second)
                if not_before is None or moment >= not_before:
                    yield moment


def _instants(spec: CronSpec, wall: datetime) -> list[datetime]:
    """The UTC instants a wall time stands for (see the DST rule in the docstring)."""
    first = wall.replace(tzinfo=spec.zone, fold=0)
    second = wall.replace(tzinfo=spec.zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first.astimezone(UTC)]
    exists = first.astimezone(UTC).astimezone(spec.zone).replace(tzinfo=None) == wall
    if not exists:  # in a gap: Java's lenient reading, the offset before the change
        return [first.astimezone(UTC)]
    if spec.every_hour:
        return [first.astimezone(UTC), second.astimezone(UTC)]
    return [first.astimezone(UTC)]


def next_fire(spec: CronSpec, after: datetime) -> datetime | None:
    """The first fire strictly after ``after`` (aware), in UTC; None if there is none
    within the next years (a year field in the past, 30 February)."""
    wall = after.astimezone(spec.zone).replace(tzinfo=None, microsecond=0)
    day = wall.date()
    not_before: time | None = wall.time()
    end = day + timedelta(days=366 * _SEARCH_YEARS)
    while day <= end:
        if day_matches(spec, day):
            for moment in _times(spec, not_before):
                for instant in _instants(spec, datetime.combine(day, moment)):
                    if instant > after:
                        return instant
        day += timedelta(days=1)
        not_before = None
    return None


def fires_between(
    spec: CronSpec, after: datetime, until: datetime, *, max_steps: int = 10_000
) -> tuple[list[datetime], bool]:
    """The fires in (after, until], in order, and whether the walk stopped at
    ``max_steps`` (the list then holds the first ``max_steps``)."""
    found: list[datetime] = []
    cursor = after
    while len(found) < max_steps:
        fire = next_fire(spec, cursor)
        if fire is None or fire > until:
            return found, False
        found.append(fire)
        cursor = fire
    return found, True
