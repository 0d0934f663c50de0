"""Marathon placement constraints as values: ``[field, OPERATOR]`` or ``[field, OPERATOR, value]``.

Owns: ``Operator``, ``Constraint`` and ``parse_constraint`` (the API layer's entry point, which returns
Marathon's validation messages as values). The *semantics* of each operator live in
``mesospaas.placement.constraint_rules``.

Invariants (checked on construction, ``InvalidSpec`` otherwise): UNIQUE has no value; GROUP_BY has no value
or an integer; MAX_PER has an integer; LIKE/UNLIKE have a non-empty regex that compiles; IS has a value
matching ``^[a-zA-Z0-9_/.-]*$``; CLUSTER's value is optional.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mesospaas.errors import InvalidSpec


class Operator(enum.Enum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"
    IS = "IS"


_IS_VALUE = re.compile(r"^[a-zA-Z0-9_/.-]*$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")

MSG_ARITY = "Each constraint must have either 2 or 3 fields"
MSG_OPERATOR = "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
MSG_UNIQUE = "UNIQUE does not accept a value"
MSG_GROUP_BY = "GROUP BY must define an integer value or else no value at all"
MSG_LIKE = "LIKE and UNLIKE require a non-empty, regular expression value"
MSG_MAX_PER = "MAX_PER requires an integer value"
MSG_IS = (
    "IS only supports Mesos text and float values (see "
    "http://mesos.apache.org/documentation/latest/attributes-resources/)"
)


def constraint_problem(field: str, operator: Operator, value: str | None) -> str | None:
    """Marathon's validation message for a constraint, or ``None`` when it is valid."""
    if operator is Operator.UNIQUE:
        return MSG_UNIQUE if value is not None else None
    if operator is Operator.GROUP_BY:
        return None if value is None or _INTEGER.match(value) else MSG_GROUP_BY
    if operator is Operator.MAX_PER:
        return None if value is not None and _INTEGER.match(value) else MSG_MAX_PER
    if operator in (Operator.LIKE, Operator.UNLIKE):
        if not value:
            return MSG_LIKE
        try:
            re.compile(value)
        except re.error:
            return f"'{value}' is not a valid regular expression"
        return None
    if operator is Operator.IS:
        return None if value is not None and _IS_VALUE.match(value) else MSG_IS
    return None  # CLUSTER: the value is optional


@dataclass(frozen=True, slots=True)
class Constraint:
    field: str
    operator: Operator
    value: str | None = None

    def __post_init__(self) -> None:
        problem = constraint_problem(self.field, self.operator, self.value)
        if problem is not None:
            raise InvalidSpec(f"{self}: {problem}")

    @property
    def int_value(self) -> int | None:
        """The value as an integer (GROUP_BY count, MAX_PER limit), or ``None`` when it has none."""
        return int(self.value) if self.value is not None and _INTEGER.match(self.value) else None

    def __str__(self) -> str:
        parts = [self.field, self.operator.value] + ([self.value] if self.value is not None else [])
        return ":".join(parts)

    def as_list(self) -> list[str]:
        """The JSON form, ``[field, OPERATOR]`` or ``[field, OPERATOR, value]``."""
        return [self.field, self.operator.value] + ([self.value] if self.value is not None else [])


def parse_constraint(parts: Sequence[str]) -> Constraint | str:
    """Parse the JSON form. Returns the ``Constraint``, or Marathon's validation message."""
    if len(parts) not in (2, 3):
        return MSG_ARITY
    field, op_text = parts[0], parts[1].upper()
    try:
        operator = Operator(op_text)
    except ValueError:
        return MSG_OPERATOR
    value = parts[2] if len(parts) == 3 else None
    problem = constraint_problem(field, operator, value)
    if problem is not None:
        return problem
    return Constraint(field, operator, value)
