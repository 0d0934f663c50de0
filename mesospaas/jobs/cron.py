"""Cron schedules, as Metronome accepts them: pure parsing and "when next" in an IANA time zone.

Owns: ``parse_cron`` -> ``Cron``, ``cron_problem`` (Metronome's validation message or None), ``next_fire``
and ``fires_between``.

Format: 5 fields ``minute hour day-of-month month day-of-week`` plus an optional 6th ``year``. Each field takes
``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and lists ``a,b``; months and days of week also
take names (``JAN``, ``MON``). Day-of-week is 0-7 (0 and 7 are Sunday). Special forms: ``?`` (no value) in
day-of-month and day-of-week; ``L`` (last day of the month), ``L-n`` (n days before it), ``nW`` (the weekday
nearest to day n, within the month) and ``LW`` (the last weekday) in day-of-month; ``nL`` (the last weekday
n of the month, e.g. ``5L`` = last Friday), ``n#k`` (the k-th weekday n, e.g. ``1#2`` = second Monday) and a
lone ``L`` (Saturday) in day-of-week. Day-of-month and day-of-week match Unix-style: when both are
restricted, a day matching either fires.

Time zones (``zoneinfo``) and daylight saving time, as the issue fixes them:

- a wall time that falls in a spring-forward gap fires at the first valid instant after the gap (02:30 on
  the night New York skips 02:00-03:00 fires at 03:00 EDT), once;
- a wall time that occurs twice on fall-back fires at its first occurrence only.

Candidates are enumerated in wall-clock order (year, month, day, hour, minute), each resolved to an instant;
the first instant after ``after`` wins. That order is what makes both rules hold.

Invariant: pure; ``now``/``after`` are arguments (Unix seconds). Fails: ``CronError`` (a ``ValueError``) from
``parse_cron`` with a message naming the field; dates that can never exist (``0 0 30 2 *``) are an error.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SEARCH_YEARS = 30
"""How far ahead a schedule without a year field is searched (the calendar repeats every 28 years)."""
MIN_YEAR, MAX_YEAR = 1970, 2199
_MONTHS = {m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                        "NOV", "DEC"], start=1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


class CronError(ValueError):
    """The cron expression is not valid."""


@dataclass(frozen=True, slots=True)
class DaySpec:
    """The day-of-month and day-of-week fields; ``None`` sets mean "unrestricted" (``*`` or ``?``)."""

    days: frozenset[int] | None = None
    """Plain days of the month (1-31)."""
    last_offsets: frozenset[int] = frozenset()
    """``L`` (0) and ``L-n`` (n): days counted back from the month's last day."""
    nearest_weekday: frozenset[int] = frozenset()
    """``nW``: the weekday (Mon-Fri) nearest to day n, not leaving the month."""
    last_weekday: bool = False
    """``LW``."""
    weekdays: frozenset[int] | None = None
    """Plain days of the week, 0 = Sunday .. 6 = Saturday."""
    last_of_weekday: frozenset[int] = frozenset()
    """``nL``: the last weekday n of the month."""
    nth_weekday: frozenset[tuple[int, int]] = frozenset()
    """``n#k``: (weekday, k)."""

    @property
    def month_restricted(self) -> bool:
        return self.days is not None or bool(self.last_offsets or self.nearest_weekday or self.last_weekday)

    @property
    def week_restricted(self) -> bool:
        return self.weekdays is not None or bool(self.last_of_weekday or self.nth_weekday)

    def matching_days(self, year: int, month: int) -> list[int]:
        """The days of ``month`` that fire, in order."""
        last = calendar.monthrange(year, month)[1]
        by_month: set[int] = set()
        if self.days is not None:
            by_month |= {d for d in self.days if d <= last}
        by_month |= {last - n for n in self.last_offsets if last - n >= 1}
        for day in self.nearest_weekday:
            if day <= last:
                by_month.add(_nearest_weekday(year, month, day, last))
        if self.last_weekday:
            by_month.add(_nearest_weekday(year, month, last, last))
        by_week: set[int] = set()
        for day in range(1, last + 1):
            weekday = (calendar.weekday(year, month, day) + 1) % 7  # Python: Monday = 0; cron: Sunday = 0
            if self.weekdays is not None and weekday in self.weekdays:
                by_week.add(day)
            if weekday in self.last_of_weekday and day + 7 > last:
                by_week.add(day)
            if (weekday, (day - 1) // 7 + 1) in self.nth_weekday:
                by_week.add(day)
        if self.month_restricted and self.week_restricted:
            chosen = by_month | by_week
        elif self.week_restricted:
            chosen = by_week
        elif self.month_restricted:
            chosen = by_month
        else:
            chosen = set(range(1, last + 1))
        return sorted(chosen)


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    weekday = calendar.weekday(year, month, day)  # Monday = 0 .. Sunday = 6
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < last else day - 2
    return day


@dataclass(frozen=True, slots=True)
class Cron:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    day_spec: DaySpec
    years: tuple[int, ...] | None = None


def _number(token: str, low: int, high: int, names: dict[str, int] | None, what: str) -> int:
    upper = token.upper()
    if names is not None and upper in names:
        return names[upper]
    if not token.isdigit():
        raise CronError(f"{what}: '{token}' is not a number")
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"{what}: {value} is outside {low}-{high}")
    return value


def _values(field: str, low: int, high: int, what: str, names: dict[str, int] | None = None) -> frozenset[int] | None:
    """A plain field: ``None`` for ``*`` (every value), else the set it names."""
    if field in ("*", "?"):
        return None
    out: set[int] = set()
    for part in field.split(","):
        if not part:
            raise CronError(f"{what}: empty list element")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{what}: bad step '{step_text}'")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _number(a, low, high, names, what), _number(b, low, high, names, what)
            if start > end:
                raise CronError(f"{what}: range {part} is backwards")
        else:
            start = _number(part, low, high, names, what)
            end = high if step > 1 else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


_LAST_OFFSET = re.compile(r"^L(?:-(\d+))?$")
_NEAREST = re.compile(r"^(\d+)W$")
_LAST_OF = re.compile(r"^(\w+)L$")
_NTH = re.compile(r"^(\w+)#(\d)$")


def _day_spec(dom: str, dow: str) -> DaySpec:
    if dom == "?" and dow == "?":
        raise CronError("day-of-month and day-of-week cannot both be '?'")
    days: set[int] = set()
    last_offsets: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    plain_dom: list[str] = []
    if dom not in ("*", "?"):
        for part in dom.split(","):
            if part == "LW":
                last_weekday = True
            elif (m := _LAST_OFFSET.match(part)) is not None:
                offset = int(m.group(1) or 0)
                if offset > 30:
                    raise CronError(f"day-of-month: L-{offset} is out of range")
                last_offsets.add(offset)
            elif (m := _NEAREST.match(part)) is not None:
                nearest.add(_number(m.group(1), 1, 31, None, "day-of-month"))
            else:
                plain_dom.append(part)
        if plain_dom:
            days = set(_values(",".join(plain_dom), 1, 31, "day-of-month") or ())
    weekdays: set[int] = set()
    last_of: set[int] = set()
    nth: set[tuple[int, int]] = set()
    plain_dow: list[str] = []
    if dow not in ("*", "?"):
        for part in dow.split(","):
            if part == "L":
                last_of.add(6)
            elif (m := _LAST_OF.match(part)) is not None:
                last_of.add(_number(m.group(1), 0, 7, _DAYS, "day-of-week") % 7)
            elif (m := _NTH.match(part)) is not None:
                k = int(m.group(2))
                if not 1 <= k <= 5:
                    raise CronError(f"day-of-week: '#{k}' must be 1-5")
                nth.add((_number(m.group(1), 0, 7, _DAYS, "day-of-week") % 7, k))
            else:
                plain_dow.append(part)
        if plain_dow:
            weekdays = {d % 7 for d in _values(",".join(plain_dow), 0, 7, "day-of-week", _DAYS) or range(7)}
    return DaySpec(days=frozenset(days) if plain_dom else None, last_offsets=frozenset(last_offsets),
                   nearest_weekday=frozenset(nearest), last_weekday=last_weekday,
                   weekdays=frozenset(weekdays) if plain_dow else None, last_of_weekday=frozenset(last_of),
                   nth_weekday=frozenset(nth))


def parse_cron(text: str) -> Cron:
    fields = text.split()
    if len(fields) not in (5, 6):
        raise CronError(f"a cron expression has 5 fields (and an optional year), got {len(fields)}")
    minutes = _values(fields[0], 0, 59, "minute")
    hours = _values(fields[1], 0, 23, "hour")
    months = _values(fields[3], 1, 12, "month", _MONTHS)
    if fields[0] == "?" or fields[1] == "?" or fields[3] == "?":
        raise CronError("'?' is only allowed in day-of-month and day-of-week")
    years = _values(fields[5], MIN_YEAR, MAX_YEAR, "year") if len(fields) == 6 else None
    cron = Cron(text=text, minutes=tuple(sorted(minutes if minutes is not None else range(60))),
                hours=tuple(sorted(hours if hours is not None else range(24))),
                months=tuple(sorted(months if months is not None else range(1, 13))),
                day_spec=_day_spec(fields[2], fields[4]),
                years=tuple(sorted(years)) if years is not None else None)
    if not _can_ever_fire(cron):
        raise CronError(f"'{text}' names a date that never exists")
    return cron


def _can_ever_fire(cron: Cron) -> bool:
    years = cron.years if cron.years is not None else range(2000, 2000 + SEARCH_YEARS)
    return any(cron.day_spec.matching_days(y, m) for y in years for m in cron.months)


def cron_problem(text: str) -> str | None:
    """Why ``text`` is not a valid schedule (a message for the API), or None."""
    try:
        parse_cron(text)
    except CronError as exc:
        return f"Cron expression '{text}' is invalid: {exc}"
    return None


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``CronError`` if there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CronError(f"unknown time zone '{name}'") from exc


def _wall_candidates(cron: Cron, start: datetime) -> Iterator[datetime]:
    """Wall times (naive) that match ``cron``, in order, from ``start``'s minute on."""
    first_year = start.year
    years = [y for y in cron.years if y >= first_year] if cron.years is not None else \
        range(first_year, first_year + SEARCH_YEARS + 1)
    start_key = (start.year, start.month, start.day, start.hour, start.minute)
    for year in years:
        for month in cron.months:
            if (year, month) < start_key[:2]:
                continue
            for day in cron.day_spec.matching_days(year, month):
                if (year, month, day) < start_key[:3]:
                    continue
                for hour in cron.hours:
                    if (year, month, day, hour) < start_key[:4]:
                        continue
                    for minute in cron.minutes:
                        if (year, month, day, hour, minute) >= start_key:
                            yield datetime(year, month, day, hour, minute)


def _resolve(wall: datetime, tz: ZoneInfo) -> float:
    """The instant a wall time fires at: its first occurrence; in a gap, the first valid instant after it."""
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) == wall:
        return first.timestamp()  # exists (fold=0 is the first of two occurrences on fall-back)
    # In a spring-forward gap: the earliest instant whose wall time is not before ``wall``.
    low = wall.replace(tzinfo=tz, fold=1).timestamp()
    high = first.timestamp()
    low, high = min(low, high), max(low, high)
    instant = low - low % 60
    while instant < high:
        if datetime.fromtimestamp(instant, tz).replace(tzinfo=None) >= wall:
            return instant
        instant += 60
    return high


def next_fire(cron: Cron, after: float, tz: ZoneInfo) -> float | None:
    """The first instant strictly after ``after`` at which ``cron`` fires in ``tz``; None if it never will."""
    start = datetime.fromtimestamp(after, tz).replace(tzinfo=None, second=0, microsecond=0)
    # Begin one hour of wall time earlier: after a fall-back the wall clock is behind the first occurrence.
    for wall in _wall_candidates(cron, start - timedelta(hours=1)):
        instant = _resolve(wall, tz)
        if instant > after:
            return instant
    return None


def fires_between(cron: Cron, after: float, until: float, tz: ZoneInfo, limit: int) -> tuple[list[float], bool]:
    """The fire times in ``(after, until]``, at most ``limit`` of them; and whether there were more."""
    out: list[float] = []
    cursor = after
    while True:
        nxt = next_fire(cron, cursor, tz)
        if nxt is None or nxt > until:
            return out, False
        if len(out) == limit:
            return out, True
        out.append(nxt)
        cursor = nxt


__all__ = ["Cron", "CronError", "DaySpec", "cron_problem", "fires_between", "next_fire", "parse_cron", "zone"]
