"""The compiled encoders (``scheduler.codecs.encoder``, behind ``encode``) write exactly the bytes of the
interpreted walk of the type hints (``encode_interpreted``, the encoder before it was compiled): the stored
format does not change.

Values: every stored type the runtime writes, from the decoder test's values (``stored_values``) and varied one
field at a time by hypothesis (a field set to its default or to another value of its type: another tagged
union option, ``None`` in an optional, other enum members, nested dataclasses varied in turn, tuples of
dataclasses, mappings, frozensets); job records and task failures built from their type hints. Then the hint
forms the stored types do not use (and values that do not fit their hint) on dataclasses of this test.
Compared as bytes, never as decoded data (``1 == 1.0 == True`` would hide a difference).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesospaas.jobs.run import JobRun
from mesospaas.jobs.spec import JobSpec
from mesospaas.model import AppId, AppSpec, Instance
from mesospaas.model.task_failure import TaskFailure
from scheduler import codecs
from scheduler.codecs import _default_of, _encode_typed, decode, encode, encode_interpreted, encoder
from scheduler.jobs import JobStatusRecord
from tests.scheduler.test_codec_decoders import stored_values

SEEDS = stored_values()
STORED: list[type] = [*dict.fromkeys(cls for cls, _ in SEEDS), JobSpec, JobRun, JobStatusRecord, TaskFailure]
INVALID = object()
"""What building a value its type refuses gives (filtered out)."""


def same_bytes(value: Any) -> bytes:
    compiled, interpreted = encode(value), encode_interpreted(value)
    assert compiled == interpreted
    return compiled


# -- values of the stored types ------------------------------------------------------------------------

def _walk(value: Any, found: dict[type, list[Any]]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found.setdefault(type(value), []).append(value)
        for f in dataclasses.fields(value):
            if f.init:
                _walk(getattr(value, f.name), found)
    elif isinstance(value, Mapping):
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, (tuple, list, frozenset, set)):
        for item in value:
            _walk(item, found)


def _seen() -> dict[type, list[Any]]:
    """Every dataclass object in the seed values and in the defaults of their classes' fields, by class."""
    found: dict[type, list[Any]] = {}
    for _, value in SEEDS:
        _walk(value, found)
    for cls in list(found):
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                _walk(f.default, found)
    return found


SEEN = _seen()


def _built(cls: type, changes: Mapping[str, Any], base: Any = None) -> Any:
    try:
        return cls(**changes) if base is None else replace(base, **changes)
    except (TypeError, ValueError, LookupError, ArithmeticError, AttributeError):
        return INVALID


def _init_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.init]


@lru_cache(maxsize=None)
def values_of(hint: Any, depth: int) -> st.SearchStrategy[Any]:
    """Values of ``hint`` (whole floats among the floats; no NaN: it is not equal to itself)."""
    if hint is Any:
        return st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # NewType
        return values_of(supertype, depth)
    origin, args = get_origin(hint), get_args(hint)
    if hint in (tuple, Sequence):  # bare: of anything
        return st.lists(values_of(Any, depth), max_size=3).map(tuple)
    if origin in (Union, types.UnionType):
        return st.one_of([values_of(a, depth) for a in args])
    if hint is type(None):
        return st.none()
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return instances_of(hint, depth)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers()
    if hint is float:
        return st.floats(allow_nan=False) | st.integers(-10**6, 10**6).map(float)
    if hint is str:
        return st.text(max_size=6)
    if origin in (tuple, list, Sequence, typing.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return st.tuples(*(values_of(a, depth) for a in args))
        item = values_of(args[0] if args else Any, depth)
        items = st.lists(item, max_size=0 if item.is_empty else 3)  # empty: no item of that type this deep
        return items if origin is list else items.map(tuple)
    if origin in (dict, Mapping, typing.Mapping):
        keys, values = values_of(args[0], depth), values_of(args[1], depth)
        return st.dictionaries(keys, values, max_size=0 if keys.is_empty or values.is_empty else 3)
    if origin in (frozenset, set):
        item = values_of(args[0], depth)
        return st.frozensets(item, max_size=0 if item.is_empty else 3)
    raise AssertionError(f"no values for the hint {hint!r}: teach values_of about it")


def instances_of(cls: type, depth: int) -> st.SearchStrategy[Any]:
    """Objects seen in the seeds, with one field changed (to its default or to another value of its type,
    itself varied when it is a dataclass); classes never seen are built from their hints."""
    hints = get_type_hints(cls)
    seen = SEEN.get(cls, [])
    if depth <= 0:
        if seen:
            return st.sampled_from(seen)
        plain = _built(cls, {})
        return st.just(plain) if plain is not INVALID else st.nothing()
    if not seen:
        kwargs = {f.name: values_of(hints[f.name], depth - 1) for f in _init_fields(cls)}
        return st.fixed_dictionaries(kwargs).map(lambda kw: _built(cls, kw)).filter(lambda v: v is not INVALID)

    def one_field_changed(base: Any) -> st.SearchStrategy[Any]:
        def changed(f: dataclasses.Field[Any]) -> st.SearchStrategy[Any]:
            default = _default_of(f)
            new = values_of(hints[f.name], depth - 1)
            if default is not dataclasses.MISSING:
                new = st.just(default) | new
            return new.map(lambda v: _built(cls, {f.name: v}, base))

        fields = _init_fields(cls)
        return st.sampled_from(fields).flatmap(changed) if fields else st.just(base)

    return st.sampled_from(seen).flatmap(one_field_changed).filter(lambda v: v is not INVALID)


@pytest.mark.parametrize("cls", STORED, ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_and_interpreted_encoding_write_the_same_bytes(cls: type, data: st.DataObject) -> None:
    value = data.draw(instances_of(cls, 3))
    raw = same_bytes(value)
    assert decode(cls, raw) == value
    assert encode(value) == raw  # again: now its objects are in the memo


def test_the_seeds_hold_tagged_unions_set_optionals_and_enums() -> None:
    """What the hypothesis test varies from: tagged union options, set optionals, enums away from default."""
    text = json.dumps([json.loads(encode(v)) for _, v in SEEDS])
    assert text.count('"@type"') >= 5 and '"healthy": true' in text and '"condition": "Running"' in text


@pytest.mark.parametrize("cls, value", SEEDS, ids=lambda v: getattr(v, "__name__", ""))
def test_every_field_of_every_object_at_its_default_and_not(cls: type, value: Any) -> None:
    """Every dataclass object inside a seed value, as it is and with each field set to its default in turn,
    writes the same bytes both ways and decodes to itself."""
    found: dict[type, list[Any]] = {}
    _walk(value, found)
    changed = defaulted = 0
    for objects in found.values():
        for obj in objects:
            assert decode(type(obj), same_bytes(obj)) == obj
            for f in _init_fields(type(obj)):
                default = _default_of(f)
                if default is dataclasses.MISSING:
                    continue
                at_default = _built(type(obj), {f.name: default}, obj)
                defaulted += 1
                if at_default is not INVALID:
                    assert decode(type(obj), same_bytes(at_default)) == at_default
                    changed += getattr(obj, f.name) != default
    raw = same_bytes(value)
    assert decode(cls, raw) == value
    assert changed or not defaulted  # the seed had fields away from their defaults


# -- hint forms and values the stored types do not (yet) use -----------------------------------------------

class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(str, enum.Enum):
    FAST = "fast"


@dataclass(frozen=True)
class Leaf:
    name: str = ""
    weight: float = 0.0


@dataclass(frozen=True)
class Other:
    count: int = 0
    colour: Colour = Colour.RED


@dataclass(frozen=True)
class Holder:
    """In a frozenset (or under ``Any``, in a tuple) its union is encoded by ``to_jsonable``: no tag."""

    either: Leaf | Other = Leaf()


@dataclass
class Loose:
    """Not frozen: never memoised."""

    tags: list[str] = field(default_factory=list)
    leaf: Leaf | None = None


def _produced_default() -> Mapping[str, int]:
    return types.MappingProxyType({"made": 1})


@dataclass(frozen=True)
class Odd:
    anything: Any = None
    either: Leaf | Other | None = None
    only: Leaf | None = None
    eithers: tuple[Leaf | Other, ...] = ()
    optional_eithers: tuple[Leaf | Other, ...] | None = None
    """Under a union the tuple is left to ``to_jsonable``: its items carry no tag."""
    pair: tuple[int, Leaf | Other] = (0, Leaf())
    by_name: Mapping[str, Leaf | Other] = field(default_factory=dict)
    by_number: dict[int, str] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    leaves: frozenset[Leaf] = frozenset()
    holders: frozenset[Holder] = frozenset()
    listed: list[Other] = field(default_factory=list)
    sequence: Sequence[Leaf | Other] = ()
    level: Level = Level.LOW
    mode: Mode = Mode.FAST
    not_a_number: float = math.nan
    """A default not equal to itself: never left out."""
    made: Mapping[str, int] = field(default_factory=_produced_default)
    loose: Loose | None = None
    plain_tuple: tuple = ()  # type: ignore[type-arg]
    bare_sequence: Sequence = ()  # type: ignore[type-arg]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(value=instances_of(Odd, 3))
def test_every_hint_form_writes_the_same_bytes(value: Odd) -> None:
    same_bytes(value)


def test_defaults_of_every_kind_write_the_same_bytes() -> None:
    """All at default: the NaN not equal to itself is written, a factory's default left out."""
    raw = same_bytes(Odd())
    assert raw == b'{"not_a_number":NaN}'
    assert same_bytes(Loose()) == b"{}"
    assert same_bytes(Odd(made={"made": 1}, loose=Loose())) == b'{"loose":{},"not_a_number":NaN}'


PRODUCED: list[int] = []


def _stamp() -> int:
    PRODUCED.append(len(PRODUCED))
    return PRODUCED[-1]


@dataclass(frozen=True)
class Stamped:
    made: int = field(default_factory=_stamp)


def test_a_default_factory_of_ours_is_asked_for_every_value() -> None:
    """As ``_default_of`` asks it: a value equal to what the factory made once is not taken for a default."""
    same_bytes(Stamped(made=-1))
    assert PRODUCED
    for earlier in list(PRODUCED):
        assert same_bytes(Stamped(made=earlier)) == b'{"made":%d}' % earlier


@dataclass(frozen=True)
class Table(Mapping[str, int]):
    """A dataclass that is also a mapping: encoded as a dataclass whatever the hint."""

    rows: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> int:
        return self.rows.index(key)

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def dumped(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


MISFITS: list[tuple[Any, Any]] = [
    (tuple[int, ...], Leaf("a")), (tuple[int, ...], {"a": Leaf()}), (tuple[int, ...], frozenset({9, 10})),
    (tuple[Leaf | Other, ...], [Leaf("x"), Other(2)]), (tuple[int, str], (1, "a", "dropped")),
    (Mapping[str, Leaf | Other], (Leaf(), Other())), (Mapping[str, Leaf | Other], Other(1)),
    (Mapping[str, int], Table(("a", "b"))), (tuple[str, ...], Table(("c",))),
    (Mapping[str, Leaf | Other], types.MappingProxyType({"a": Leaf("m"), "b": Other(3)})),
    (dict[int, Any], {1: "one", "1": "string one"}), (Leaf | Other, (Leaf(), Other())), (Leaf | Other, None),
    (Leaf | Other, Colour.BLUE), (Leaf | Other, Loose(["t"], Leaf("l"))), (Any, (Leaf("u"), Other())),
    (Any, Holder(Other(5))), (Any, (Holder(Other(6)),)),
    (Any, {"k": [Other(4), frozenset({"b", "a"})]}), (frozenset[Leaf], frozenset({Leaf("b"), Leaf("a")})),
    (frozenset[str], ("not", "a", "set")), (frozenset[str], {"s", "t"}), (int, Level.HIGH), (str, Mode.FAST),
    (Colour, Colour.BLUE), (float, 2.0), (int, True), (Sequence[Leaf], [Leaf("s")]), (list[Other], (Other(),)),
    (typing.Tuple, (Leaf(), Other())), (typing.Dict, {"a": Leaf()}), (tuple[()], ()),
]


@pytest.mark.parametrize("hint, value", MISFITS)
def test_values_that_do_not_fit_their_hint_encode_as_the_interpreted_walk_encodes_them(hint: Any, value: Any) -> None:
    assert dumped(encoder(hint)(value)) == dumped(_encode_typed(value, hint))


@pytest.mark.parametrize("value", [object(), {1: object()}, Loose([object()])])  # type: ignore[list-item]
def test_values_that_cannot_be_stored_fail_both_ways(value: Any) -> None:
    for write in (encode, encode_interpreted):
        with pytest.raises((codecs.CodecError, TypeError)):
            write(value)


# -- the memo of frozen objects ----------------------------------------------------------------------------

def test_a_new_value_reuses_the_encoding_of_the_parts_it_shares() -> None:
    instance = next(v for cls, v in SEEDS if cls is Instance)
    first, second = replace(instance, since=10.0), replace(instance, since=11.0, healthy=False)
    assert first.agent is second.agent
    one, two = encoder(Instance)(first), encoder(Instance)(second)
    assert one["agent"] is two["agent"] and one["since"] == 10.0 and two["since"] == 11.0
    assert encoder(Instance)(first) is one  # the same object: encoded once
    assert encode(second) == encode_interpreted(second)


def test_the_memo_is_emptied_at_its_limit_and_stays_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecs, "_MEMO_LIMIT", 3)
    codecs._MEMO.clear()
    apps = [AppSpec(id=AppId(f"/memo/app{n}"), instances=n) for n in range(10)]
    for app in apps:
        same_bytes(app)
        assert len(codecs._MEMO) <= 3
    assert [decode(AppSpec, encode(a)) for a in apps] == apps


def test_a_hint_gets_one_encoder() -> None:
    assert encoder(tuple[Leaf | Other, ...]) is encoder(tuple[Leaf | Other, ...])
    assert encoder(Leaf) is encoder(Other) is encoder(Any)  # a class: encoded by the class of the value
