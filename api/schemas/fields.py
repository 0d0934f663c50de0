"""Strict JSON fields and Marathon-worded validators for the API schemas.

Owns: marshmallow fields that accept exactly the JSON types Marathon's play-json readers accept (no
``"3"`` for a number, no ``true`` for an integer, no ``1`` for a boolean) and report play-json's codes,
and validators whose messages are Marathon's (Accord's wording: ``got -1, expected 0 or more``). The
OpenAPI generator reads the same objects (``Range``/``Length``/``Regexp``/``OneOf`` subclasses), so the
document and the validation cannot drift apart.

Invariants: ``null`` on an optional field loads as ``None`` and is then dropped (Marathon reads ``null`` as
"absent"); inside arrays and maps ``null`` is a type error. Enum literals match case-insensitively and load
as the canonical spelling (Marathon's generated enum readers lower-case before matching).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate

EXPECTED_STRING = "error.expected.jsstring"
EXPECTED_NUMBER = "error.expected.jsnumber"
EXPECTED_INT = "error.expected.int"
EXPECTED_BOOLEAN = "error.expected.jsboolean"
EXPECTED_ARRAY = "error.expected.jsarray"
EXPECTED_OBJECT = "error.expected.jsobject"
UNKNOWN_ENUM = "error.unknown.enum.literal"
PATH_MISSING = "error.path.missing"

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def scala_number(value: float | int, *, double: bool) -> str:
    """How Scala prints a number in an Accord message: ``1`` for an Int, ``1.0`` / ``1.0E-4`` for a Double."""
    if not double:
        return str(int(value))
    number = float(value)
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    if 1e-3 <= abs(number) < 1e7:
        text = repr(number)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(number)).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits).rstrip("0") or "0"
    scientific = len(digits) - 1 + exponent
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{scientific}"


def _type_error(message: str) -> dict[str, str]:
    return {"invalid": message, "null": message, "type": message}


class JsonString(fields.String):
    """A JSON string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _type_error(EXPECTED_STRING))
        super().__init__(**kwargs)


class JsonBoolean(fields.Field):
    """A JSON ``true``/``false`` (not 0/1, not ``"true"``)."""

    default_error_messages = _type_error(EXPECTED_BOOLEAN)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JsonInteger(fields.Field):
    """A JSON number that is a whole 32-bit value (play's ``IntReads``: ``2.0`` is fine, ``2.5`` is not)."""

    default_error_messages = {**_type_error(EXPECTED_NUMBER), "not_int": EXPECTED_INT}

    def __init__(self, *, int64: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.int64 = int64

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise self.make_error("not_int")
            value = int(value)
        bound = 2**63 if self.int64 else 2**31
        if not -bound <= value < bound:
            raise self.make_error("not_int")
        return int(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JsonNumber(fields.Field):
    """A finite JSON number, loaded as ``float``."""

    default_error_messages = _type_error(EXPECTED_NUMBER)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        try:
            number = float(value)
        except OverflowError:
            raise self.make_error("invalid") from None
        if not math.isfinite(number):
            raise self.make_error("invalid")
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JsonEnum(fields.Field):
    """A string out of ``choices``, matched case-insensitively, loaded as the canonical spelling."""

    default_error_messages = {**_type_error(EXPECTED_STRING), "unknown": UNKNOWN_ENUM}

    def __init__(self, choices: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = tuple(choices)
        self._by_lower = {c.lower(): c for c in self.choices}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        canonical = self._by_lower.get(value.lower())
        if canonical is None:
            raise self.make_error("unknown")
        return canonical

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JsonList(fields.List):
    """A JSON array of ``inner``; element errors are keyed by index (``/args(1)``)."""

    def __init__(self, inner: fields.Field, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _type_error(EXPECTED_ARRAY))
        super().__init__(inner, **kwargs)


class JsonDict(fields.Field):
    """A JSON object used as a map (labels, env, secrets); value errors are keyed by the map key (``/env/X``)."""

    default_error_messages = _type_error(EXPECTED_OBJECT)

    def __init__(self, values: fields.Field, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value_field = values

    def _bind_to_schema(self, field_name: str, parent: Any) -> None:
        super()._bind_to_schema(field_name, parent)
        self.value_field._bind_to_schema(field_name, self)  # lets a Nested value find its schema

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        loaded: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                errors[str(key)] = [EXPECTED_STRING]
                continue
            try:
                loaded[key] = self.value_field.deserialize(item, **kwargs)
            except ValidationError as error:
                errors[key] = error.messages
        if errors:
            raise ValidationError(errors, valid_data=loaded)
        return loaded

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JsonNested(fields.Nested):
    """A nested JSON object described by a schema."""

    def __init__(self, nested: Any, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", _type_error(EXPECTED_OBJECT))
        super().__init__(nested, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None, **kwargs: Any,
    ) -> Any:
        if not isinstance(value, Mapping):  # the nested schema would say "Invalid input type."
            raise self.make_error("type")
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


class OneOfTypes(fields.Field):
    """A value that may take one of several shapes, tried in order (``"disabled"`` or an object).

    ``alternatives`` are fields; the first that loads wins. When all fail, the error of ``report`` (an index
    into ``alternatives``, chosen by the JSON type of the input) is reported.
    """

    def __init__(self, alternatives: Sequence[fields.Field], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alternatives = tuple(alternatives)
        # ``null`` where a value is required: the first shape's type error, as play-json would report it.
        self.error_messages["null"] = self.alternatives[0].error_messages.get("null", EXPECTED_STRING)

    def _bind_to_schema(self, field_name: str, parent: Any) -> None:
        super()._bind_to_schema(field_name, parent)
        for alternative in self.alternatives:
            alternative._bind_to_schema(field_name, self)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        last: ValidationError | None = None
        for alternative in self.alternatives:
            try:
                return alternative.deserialize(value, **kwargs)
            except ValidationError as error:
                if last is None or _type_matches(alternative, value):
                    last = error
        assert last is not None
        raise last

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _type_matches(field: fields.Field, value: Any) -> bool:
    if isinstance(field, JsonString | JsonEnum):
        return isinstance(value, str)
    if isinstance(field, JsonNested | JsonDict):
        return isinstance(value, Mapping)
    if isinstance(field, JsonNumber | JsonInteger):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


# --- validators: Marathon (Accord) messages; subclasses of marshmallow's so OpenAPI can read the bounds ---

_VALUE_CHECKS = ContextVar("_VALUE_CHECKS", default=True)


@contextmanager
def value_checks_off() -> Iterator[None]:
    """Load with types checked but value rules (ranges, patterns, lengths) skipped.

    Used after a load failed on value rules only: the fully typed body then goes through the cross-field
    rules too, so one response lists every problem, as Marathon's single validation pass does.
    """
    token = _VALUE_CHECKS.set(False)
    try:
        yield
    finally:
        _VALUE_CHECKS.reset(token)


def _checking() -> bool:
    return _VALUE_CHECKS.get()


class AtLeast(validate.Range):
    """``value >= min`` ("got -1, expected 0 or more")."""

    def __init__(self, minimum: float, *, double: bool = False) -> None:
        super().__init__(min=minimum)
        self.double = double

    def __call__(self, value: Any) -> Any:
        if not _checking():
            return value
        assert self.min is not None
        if value < self.min:
            raise ValidationError(
                f"got {scala_number(value, double=self.double)}, "
                f"expected {scala_number(self.min, double=self.double)} or more"
            )
        return value


class GreaterThan(validate.Range):
    """``value > min`` ("got 0, expected more than 0")."""

    def __init__(self, minimum: float, *, double: bool = False) -> None:
        super().__init__(min=minimum, min_inclusive=False)
        self.double = double

    def __call__(self, value: Any) -> Any:
        if not _checking():
            return value
        assert self.min is not None
        if value <= self.min:
            raise ValidationError(
                f"got {scala_number(value, double=self.double)}, "
                f"expected more than {scala_number(self.min, double=self.double)}"
            )
        return value


class Between(validate.Range):
    """``min <= value <= max`` ("got 70000, expected between 0 and 65535").

    ``below``/``above`` override the message on either side (the reference quotes ``is greater than 1`` for
    ``upgradeStrategy``).
    """

    def __init__(
        self, minimum: float, maximum: float, *, double: bool = False, below: str | None = None,
        above: str | None = None,
    ) -> None:
        super().__init__(min=minimum, max=maximum)
        self.double = double
        self.below = below
        self.above = above

    def __call__(self, value: Any) -> Any:
        if not _checking():
            return value
        assert self.min is not None and self.max is not None
        if value < self.min and self.below is not None:
            raise ValidationError(self.below)
        if value > self.max and self.above is not None:
            raise ValidationError(self.above)
        if not self.min <= value <= self.max:
            fmt = self.double
            raise ValidationError(
                f"got {scala_number(value, double=fmt)}, expected between "
                f"{scala_number(self.min, double=fmt)} and {scala_number(self.max, double=fmt)}"
            )
        return value


class NotEmpty(validate.Length):
    """A non-empty string or array ("must not be empty")."""

    def __init__(self) -> None:
        super().__init__(min=1)

    def __call__(self, value: Any) -> Any:
        if not _checking():
            return value
        if len(value) == 0:
            raise ValidationError("must not be empty")
        return value


class MaxLength(validate.Length):
    def __init__(self, maximum: int) -> None:
        super().__init__(max=maximum)

    def __call__(self, value: Any) -> Any:
        if not _checking():
            return value
        assert self.max is not None
        if len(value) > self.max:
            raise ValidationError(f"got {len(value)}, expected {self.max} or less")
        return value


class FullMatch(validate.Regexp):
    """The whole string matches ``pattern`` (Java ``String.matches``)."""

    def __init__(self, pattern: str, message: str | None = None) -> None:
        super().__init__(pattern)
        self.message = message or f"must fully match regular expression '{pattern}'"
        self._full = re.compile(pattern)

    def __call__(self, value: Any) -> Any:
        if not _checking():
            return value
        if self._full.fullmatch(value) is None:
            raise ValidationError(self.message)
        return value


PORT_RANGE = Between(0, 65535)
