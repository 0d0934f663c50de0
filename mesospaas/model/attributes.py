"""Agent attributes and Marathon's way of turning them into strings.

Owns: the four Mesos attribute value types (text, scalar, ranges, set) and ``marathon_string``, the one
conversion every constraint comparison goes through (Marathon compares strings only):

- text: as is;
- scalar: ``0.###`` with HALF_EVEN rounding on the exact binary value (``1.0`` -> ``"1"``,
  ``0.8000`` -> ``"0.8"``, ``1.0005`` -> ``"1"``), no grouping separator;
- ranges: sorted by begin, ``[b-e,b-e]``;
- set: items sorted, ``{a,b,c}``.

Invariant: values are immutable; ``Ranges`` and ``ItemSet`` keep the order they were given (the string form
sorts). Fails: nothing here raises for well-typed input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

SCALAR_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
"""What Marathon's IS operator treats as a scalar value (both sides then go through ``format_scalar``)."""

_THOUSANDTH = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class Text:
    value: str


@dataclass(frozen=True, slots=True)
class Scalar:
    value: float


@dataclass(frozen=True, slots=True)
class Ranges:
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class ItemSet:
    items: tuple[str, ...]


AttributeValue = Text | Scalar | Ranges | ItemSet


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    value: AttributeValue


def format_scalar(number: float) -> str:
    """Java's ``DecimalFormat("0.###")`` with HALF_EVEN rounding, as Marathon formats scalar attributes."""
    rounded = Decimal(number).quantize(_THOUSANDTH, rounding=ROUND_HALF_EVEN)
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def marathon_string(value: AttributeValue) -> str:
    """The string Marathon compares constraints against."""
    if isinstance(value, Text):
        return value.value
    if isinstance(value, Scalar):
        return format_scalar(value.value)
    if isinstance(value, Ranges):
        ordered = sorted(value.ranges, key=lambda r: r[0])
        return "[" + ",".join(f"{begin}-{end}" for begin, end in ordered) + "]"
    return "{" + ",".join(sorted(value.items)) + "}"
