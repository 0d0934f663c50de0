"""Where something runs: an agent's identity, hostname, fault domain and attributes.

Owns: ``AgentInfo`` — carried by every offer and copied onto an instance when it is placed (as Marathon's
``agentInfo``), so constraints can count placed instances without looking agents up elsewhere.

Constraint field names are resolved here, once per agent: ``hostname`` and ``@hostname`` are the hostname,
``@region`` and ``@zone`` the Mesos fault domain, anything else an attribute name (an attribute literally
named ``hostname`` is shadowed, as in Marathon). Values are Marathon strings (see ``attributes``).

Invariant: immutable; ``field_value`` is a dictionary lookup. Several instances on one agent should share one
``AgentInfo`` object (the shell interns them) to keep memory low.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from mesospaas.model.attributes import Attribute, marathon_string
from mesospaas.model.ids import AgentId

HOSTNAME: Final = "hostname"
AT_HOSTNAME: Final = "@hostname"
AT_REGION: Final = "@region"
AT_ZONE: Final = "@zone"


def canonical_field(name: str) -> str:
    """``@hostname`` and ``hostname`` are one field; every other name stands for itself."""
    return HOSTNAME if name == AT_HOSTNAME else name


@dataclass(frozen=True, slots=True)
class AgentInfo:
    agent_id: AgentId
    hostname: str
    attributes: tuple[Attribute, ...] = ()
    region: str | None = None
    zone: str | None = None
    fields: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)
    """Every constraint field this agent has a value for, canonical name -> Marathon string."""

    def __post_init__(self) -> None:
        values: dict[str, str] = {}
        for attribute in self.attributes:
            values.setdefault(attribute.name, marathon_string(attribute.value))
        if self.region is not None:
            values[AT_REGION] = self.region
        if self.zone is not None:
            values[AT_ZONE] = self.zone
        values[HOSTNAME] = self.hostname
        object.__setattr__(self, "fields", values)

    def field_value(self, name: str) -> str | None:
        """The agent's value for a constraint field, or ``None`` when the agent lacks it."""
        return self.fields.get(canonical_field(name))
