"""Resource and attribute algebra for localmesos, in the shapes the Mesos v1 API uses.

Owns: parsing agent flag syntax (``cpus:4;mem:4096;ports:[31000-32000]``, ``rack:r1;level:10``), parsing and
rendering ``Resource`` JSON arrays, arithmetic (add, subtract, contains) on scalars, ranges and sets, the
``/state`` map form (``{"cpus": 4.0, "ports": "[31000-32000]"}``) and the text form Mesos uses in error messages
(``cpus(allocated: *):0.1; mem(allocated: *):32``).

Invariants: a ``Resources`` value is immutable; scalars keep three decimal digits like Mesos; ranges are kept
sorted and coalesced. All resources are unreserved (role ``*``): localmesos has no reservations.
Fails with ``ResourceError`` (a ValueError) on text or JSON it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SCALAR_ORDER = ("cpus", "mem", "disk", "gpus")


class ResourceError(ValueError):
    """Raised for resource text or JSON that cannot be parsed."""


Range = tuple[int, int]


def _round(value: float) -> float:
    return round(value * 1000) / 1000


def _coalesce(ranges: list[Range]) -> tuple[Range, ...]:
    out: list[list[int]] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([begin, end])
    return tuple((b, e) for b, e in out)


def _subtract_ranges(have: tuple[Range, ...], take: tuple[Range, ...]) -> tuple[Range, ...]:
    result = list(have)
    for tb, te in take:
        nxt: list[Range] = []
        for b, e in result:
            if te < b or tb > e:
                nxt.append((b, e))
                continue
            if b < tb:
                nxt.append((b, tb - 1))
            if te < e:
                nxt.append((te + 1, e))
        result = nxt
    return _coalesce(result)


def _ranges_contain(have: tuple[Range, ...], want: tuple[Range, ...]) -> bool:
    for wb, we in want:
        if not any(b <= wb and we <= e for b, e in have):
            return False
    return True


def format_number(value: float) -> str:
    """Formats a scalar the way Mesos prints it in messages and flags: ``100``, ``0.1``, ``2048``."""
    value = _round(value)
    if float(value).is_integer():
        return str(int(value))
    return repr(value)


def format_ranges(ranges: tuple[Range, ...]) -> str:
    return "[" + ", ".join(f"{b}-{e}" for b, e in ranges) + "]"


@dataclass(frozen=True)
class Resources:
    """A bag of unreserved resources: scalars by name, port-like ranges by name, sets by name."""

    scalars: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, tuple[Range, ...]] = field(default_factory=dict)
    sets: dict[str, frozenset[str]] = field(default_factory=dict)
    # Rendered JSON per rendering options; a Resources value never changes, so neither does its JSON.
    _json_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = field(
        default_factory=dict, compare=False, repr=False)

    # -- construction ---------------------------------------------------------------------------------
    @staticmethod
    def parse(text: str) -> "Resources":
        """Parses agent flag syntax: ``cpus:4;mem:4096;disk:20000;ports:[31000-32000];gpus:0;x:{a,b}``."""
        scalars: dict[str, float] = {}
        ranges: dict[str, tuple[Range, ...]] = {}
        sets: dict[str, frozenset[str]] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            if ":" not in part:
                raise ResourceError(f"Bad value for resources: '{part}' is not of the form name:value")
            name, value = (s.strip() for s in part.split(":", 1))
            name = re.sub(r"\(.*\)$", "", name)  # drop a role suffix such as cpus(*)
            if not name:
                raise ResourceError(f"Bad value for resources: '{part}' has no name")
            if value.startswith("["):
                ranges[name] = _parse_range_text(value)
            elif value.startswith("{"):
                sets[name] = frozenset(i.strip() for i in value.strip("{}").split(",") if i.strip())
            else:
                try:
                    number = float(value)
                except ValueError as exc:
                    raise ResourceError(f"Bad value for resources: '{value}' is not a number") from exc
                if number < 0:
                    raise ResourceError(f"Bad value for resources: '{part}' is negative")
                scalars[name] = _round(number)
        return Resources(scalars, ranges, sets)

    @staticmethod
    def from_json(items: Any, path: str = "resources") -> "Resources":
        """Reads a Mesos ``Resource`` JSON array. Raises ResourceError naming the first bad entry."""
        if not isinstance(items, list):
            raise ResourceError(f"Expecting JSON array for field '{path}'")
        scalars: dict[str, float] = {}
        ranges: dict[str, list[Range]] = {}
        sets: dict[str, set[str]] = {}
        for item in items:
            if not isinstance(item, dict):
                raise ResourceError(f"Expecting JSON object in '{path}'")
            name = item.get("name")
            kind = item.get("type")
            if not isinstance(name, str) or not name:
                raise ResourceError("Empty resource name")
            if kind == "SCALAR":
                try:
                    value = float((item.get("scalar") or {}).get("value"))
                except (TypeError, ValueError) as exc:
                    raise ResourceError(f"Invalid scalar resource {name}") from exc
                if value < 0 or value != value:
                    raise ResourceError(f"Invalid scalar resource {name}: negative or NaN")
                scalars[name] = _round(scalars.get(name, 0.0) + value)
            elif kind == "RANGES":
                for r in (item.get("ranges") or {}).get("range") or []:
                    try:
                        begin, end = int(r["begin"]), int(r["end"])
                    except (KeyError, TypeError, ValueError) as exc:
                        raise ResourceError(f"Invalid ranges resource {name}") from exc
                    if begin > end:
                        raise ResourceError(f"Invalid ranges resource {name}: begin > end")
                    ranges.setdefault(name, []).append((begin, end))
            elif kind == "SET":
                items_ = (item.get("set") or {}).get("item") or []
                sets.setdefault(name, set()).update(str(i) for i in items_)
            else:
                raise ResourceError(f"Invalid resource type for {name}: {kind!r}")
        return Resources(scalars, {k: _coalesce(v) for k, v in ranges.items()},
                         {k: frozenset(v) for k, v in sets.items()})

    # -- arithmetic -----------------------------------------------------------------------------------
    def __add__(self, other: "Resources") -> "Resources":
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = _round(scalars.get(k, 0.0) + v)
        ranges = dict(self.ranges)
        for k, r in other.ranges.items():
            ranges[k] = _coalesce(list(ranges.get(k, ())) + list(r))
        sets = dict(self.sets)
        for k, s in other.sets.items():
            sets[k] = sets.get(k, frozenset()) | s
        return Resources(scalars, ranges, sets)

    def __sub__(self, other: "Resources") -> "Resources":
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = max(0.0, _round(scalars.get(k, 0.0) - v))
        ranges = dict(self.ranges)
        for k, r in other.ranges.items():
            ranges[k] = _subtract_ranges(ranges.get(k, ()), r)
        sets = dict(self.sets)
        for k, s in other.sets.items():
            sets[k] = sets.get(k, frozenset()) - s
        return Resources(scalars, {k: v for k, v in ranges.items() if v},
                         {k: v for k, v in sets.items() if v})

    def contains(self, other: "Resources") -> bool:
        for k, v in other.scalars.items():
            if v > 0 and _round(self.scalars.get(k, 0.0) - v) < 0:
                return False
        for k, r in other.ranges.items():
            if not _ranges_contain(self.ranges.get(k, ()), r):
                return False
        for k, s in other.sets.items():
            if not s <= self.sets.get(k, frozenset()):
                return False
        return True

    def is_empty(self) -> bool:
        return (not any(v > 0 for v in self.scalars.values()) and not any(self.ranges.values())
                and not any(self.sets.values()))

    def scalar(self, name: str) -> float:
        return self.scalars.get(name, 0.0)

    # -- rendering ------------------------------------------------------------------------------------
    def _ordered_names(self, ranges_first: bool) -> list[tuple[str, str]]:
        scalar_names = [n for n in SCALAR_ORDER if self.scalars.get(n, 0) > 0]
        scalar_names += sorted(n for n in self.scalars if n not in SCALAR_ORDER and self.scalars[n] > 0)
        other = [("RANGES", n) for n in sorted(self.ranges) if self.ranges[n]]
        other += [("SET", n) for n in sorted(self.sets) if self.sets[n]]
        scal = [("SCALAR", n) for n in scalar_names]
        return other + scal if ranges_first else scal + other

    def to_json(self, *, role: str | None = "*", allocation_role: str | None = None,
                ranges_first: bool = True) -> list[dict[str, Any]]:
        """Renders a Resource array. Offers list ports first (as the real allocator does).

        The result is cached and shared: callers must not mutate it.
        """
        key = (role, allocation_role, ranges_first)
        cached = self._json_cache.get(key)
        if cached is not None:
            return cached
        out: list[dict[str, Any]] = []
        for kind, name in self._ordered_names(ranges_first):
            item: dict[str, Any] = {"name": name, "type": kind}
            if kind == "SCALAR":
                item["scalar"] = {"value": float(self.scalars[name])}
            elif kind == "RANGES":
                item["ranges"] = {"range": [{"begin": b, "end": e} for b, e in self.ranges[name]]}
            else:
                item["set"] = {"item": sorted(self.sets[name])}
            if role is not None:
                item["role"] = role
            if allocation_role is not None:
                item["allocation_info"] = {"role": allocation_role}
            out.append(item)
        self._json_cache[key] = out
        return out

    def to_state_map(self) -> dict[str, Any]:
        """The ``/state`` form: cpus, gpus, mem, disk always present; ranges and sets as text."""
        out: dict[str, Any] = {"disk": float(self.scalar("disk")), "mem": float(self.scalar("mem")),
                               "gpus": float(self.scalar("gpus")), "cpus": float(self.scalar("cpus"))}
        for name, value in self.scalars.items():
            if name not in out:
                out[name] = float(value)
        for name, r in self.ranges.items():
            if r:
                out[name] = format_ranges(r)
        for name, s in self.sets.items():
            if s:
                out[name] = "{" + ",".join(sorted(s)) + "}"
        return out

    def to_message(self, *, ranges_first: bool = False) -> str:
        """The text Mesos puts in TASK_ERROR messages: ``cpus(allocated: *):0.1; mem(allocated: *):32``."""
        parts = []
        for kind, name in self._ordered_names(ranges_first):
            if kind == "SCALAR":
                value = format_number(self.scalars[name])
            elif kind == "RANGES":
                value = format_ranges(self.ranges[name])
            else:
                value = "{" + ", ".join(sorted(self.sets[name])) + "}"
            parts.append(f"{name}(allocated: *):{value}")
        return "; ".join(parts)

    def to_flag(self) -> str:
        """Agent flag syntax, for ``/flags`` output."""
        parts = [f"{n}:{format_number(self.scalars[n])}" for _, n in self._ordered_names(False)
                 if n in self.scalars]
        parts += [f"{n}:{format_ranges(r)}" for n, r in self.ranges.items()]
        parts += [f"{n}:{{{','.join(sorted(s))}}}" for n, s in self.sets.items()]
        return ";".join(parts)


def _parse_range_text(text: str) -> tuple[Range, ...]:
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise ResourceError(f"Bad value for ranges: '{text}'")
    ranges: list[Range] = []
    for piece in filter(None, (p.strip() for p in body[1:-1].split(","))):
        try:
            begin_s, end_s = piece.split("-")
            begin, end = int(begin_s), int(end_s)
        except ValueError as exc:
            raise ResourceError(f"Bad value for ranges: '{piece}'") from exc
        if begin > end:
            raise ResourceError(f"Bad value for ranges: '{piece}' begins after it ends")
        ranges.append((begin, end))
    return _coalesce(ranges)


@dataclass(frozen=True)
class Attribute:
    """An agent attribute of type TEXT, SCALAR, RANGES or SET."""

    name: str
    kind: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        if self.kind == "TEXT":
            return {"name": self.name, "type": "TEXT", "text": {"value": self.value}}
        if self.kind == "SCALAR":
            return {"name": self.name, "type": "SCALAR", "scalar": {"value": float(self.value)}}
        if self.kind == "RANGES":
            return {"name": self.name, "type": "RANGES",
                    "ranges": {"range": [{"begin": b, "end": e} for b, e in self.value]}}
        return {"name": self.name, "type": "SET", "set": {"item": list(self.value)}}

    def state_value(self) -> Any:
        """The ``/state`` form: text as is, scalars as numbers, ranges and sets as text."""
        if self.kind == "TEXT":
            return self.value
        if self.kind == "SCALAR":
            return float(self.value)
        if self.kind == "RANGES":
            return format_ranges(self.value)
        return "{" + ",".join(self.value) + "}"


def parse_attributes(text: str) -> tuple[Attribute, ...]:
    """Parses agent flag syntax ``rack:r1;level:10;ports:[1-5];tags:{a,b}`` (numbers become SCALAR)."""
    out: list[Attribute] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if ":" not in part:
            raise ResourceError(f"Bad value for attributes: '{part}' is not of the form name:value")
        name, value = (s.strip() for s in part.split(":", 1))
        if not name:
            raise ResourceError(f"Bad value for attributes: '{part}' has no name")
        if value.startswith("["):
            out.append(Attribute(name, "RANGES", _parse_range_text(value)))
        elif value.startswith("{"):
            out.append(Attribute(name, "SET", tuple(i.strip() for i in value.strip("{}").split(",") if i.strip())))
        else:
            try:
                out.append(Attribute(name, "SCALAR", float(value)))
            except ValueError:
                out.append(Attribute(name, "TEXT", value))
    return tuple(out)
