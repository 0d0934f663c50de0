"""Storage codecs: core domain objects <-> compact JSON bytes. Not the API's JSON (that is ``api.schemas``).

Owns one generic codec driven by the dataclasses' type hints, so a field added to a core type is stored
without anyone touching this module: dataclasses become objects of their init fields (defaults left out),
enums their value, tuples and sequences lists, mappings objects, ``NewType`` ids their base type, and a field
whose type is a union of dataclasses (``Executor``, ``UnreachableStrategy``, a constraint's value...) carries a
``"@type"`` tag naming the class. Floats that are whole stay floats.

Decoding is compiled: ``decoder(cls)`` turns a type into a tree of small functions once (type hints,
unions, fields resolved up front), so decoding a value does only the checks and constructions (a new leader
decodes every stored app and instance: 100,000 values). ``from_jsonable`` is the same decoding walked from
the hints for every value; ``decode`` uses it only to say where a value that does not fit goes wrong.

Fails: ``CodecError`` for data that does not fit the type (a corrupt or foreign value in the store).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import threading
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from mesospaas.model.agent import AgentInfo

T = TypeVar("T")
TAG = "@type"
_UNFIT = (TypeError, ValueError, LookupError, ArithmeticError, AttributeError)
"""What a core type's constructor raises for values that do not fit it (e.g. an empty range of ports)."""


class CodecError(ValueError):
    """Stored data does not decode into the expected type."""


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


@lru_cache(maxsize=None)
def _init_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if f.init)


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for a core value (dataclasses, enums, tuples, mappings, primitives)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in _init_fields(type(value)):
            item = getattr(value, f.name)
            default = _default_of(f)
            if default is not dataclasses.MISSING and item == default:
                continue
            out[f.name] = to_jsonable(item)
        return out
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    raise CodecError(f"cannot store a {type(value).__name__}")


def _tagged(hint: Any) -> bool:
    """A union of several dataclasses needs a tag to decode."""
    options = [a for a in get_args(hint) if a is not type(None)]
    return len([a for a in options if dataclasses.is_dataclass(a)]) > 1


def _encode_typed(value: Any, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType) and value is not None and dataclasses.is_dataclass(value) \
            and _tagged(hint):
        data = dict(_encode_dataclass(value))  # a copy: the encoded form is memoised and shared
        data[TAG] = type(value).__name__
        return data
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if origin in (tuple, list, Sequence, typing.Sequence) and isinstance(value, (tuple, list)):
        args = get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:  # fixed-length tuple[A, B, ...]
            return [_encode_typed(v, h) for v, h in zip(value, args)]
        item_hint = args[0] if args else Any
        return [_encode_typed(v, item_hint) for v in value]
    if origin in (dict, Mapping, typing.Mapping) and isinstance(value, Mapping):
        args = get_args(hint)
        value_hint = args[1] if len(args) == 2 else Any
        return {str(k): _encode_typed(v, value_hint) for k, v in value.items()}
    return to_jsonable(value)


_MEMO: dict[int, tuple[Any, dict[str, Any]]] = {}
_MEMO_LIMIT = 200_000


def _encode_dataclass(value: Any) -> dict[str, Any]:
    """Frozen objects are encoded once: a new root group shares every unchanged app and subtree with the
    previous one, so persisting it only encodes what changed. Entries hold the object, so ids stay unique."""
    if getattr(type(value), "__dataclass_params__").frozen:
        hit = _MEMO.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        encoded = _encode_fields(value)
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[id(value)] = (value, encoded)
        return encoded
    return _encode_fields(value)


def _encode_fields(value: Any) -> dict[str, Any]:
    cls = type(value)
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for f in _init_fields(cls):
        item = getattr(value, f.name)
        default = _default_of(f)
        if default is not dataclasses.MISSING and item == default:
            continue
        out[f.name] = _encode_typed(item, hints.get(f.name, Any))
    return out


def encode(value: Any) -> bytes:
    """Compact JSON bytes for a core dataclass."""
    return json.dumps(_encode_typed(value, type(value)), separators=(",", ":"), sort_keys=True).encode()


_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The JSON scanner (C) that ``json.loads`` ends in, called directly: a value is read without the layers of
Python around it (encoding detection, whitespace matching), a third of ``json.loads``' time for 400 bytes."""


def _parsed(raw: bytes) -> Any:
    """``json.loads(raw)``: the scanner when ``raw`` is UTF-8 holding exactly one value and nothing around it
    (what ``encode`` writes), ``json.loads`` for everything else (so its errors and leniencies stay)."""
    try:
        text = raw.decode("utf-8")
        data, end = _SCAN(text, 0)
        if end == len(text):
            return data
    except (UnicodeDecodeError, StopIteration, ValueError, TypeError, AttributeError):
        pass
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"not JSON: {exc}") from exc


def decode(cls: type[T], raw: bytes) -> T:
    """The ``cls`` stored as ``raw``; ``CodecError`` (naming where in the value) for data that does not fit."""
    data = _parsed(raw)
    try:
        fast: T = decoder(cls)(data)
        return fast
    except (CodecError, *_UNFIT):
        pass  # the general walk below says where (or, should the two ever differ, decides)
    result: T = from_jsonable(cls, data)
    return result


_Decoder = Callable[[Any], Any]
_DECODERS: dict[Any, _Decoder] = {}
_BUILDING = threading.RLock()


def _identity(data: Any) -> Any:
    return data


def decoder(hint: Any) -> _Decoder:
    """The decoding function for ``hint``, made once per type: what ``from_jsonable`` does, with every
    ``get_origin``/``get_args``/field lookup done when it is made rather than for every value. It raises
    ``CodecError`` where ``from_jsonable`` does (without the path: ``decode`` asks ``from_jsonable`` for it)."""
    try:
        return _DECODERS[hint]
    except KeyError:
        pass
    except TypeError:  # an unhashable hint: made afresh every time
        return _make_decoder(hint, {})
    with _BUILDING:
        made = _DECODERS.get(hint)
        if made is None:
            building: dict[Any, _Decoder] = {}
            made = _make_decoder(hint, building)
            _DECODERS.update(building)  # published once complete (recursive types refer to each other)
        return made


def _make_decoder(hint: Any, building: dict[Any, _Decoder]) -> _Decoder:
    found = _DECODERS.get(hint) or building.get(hint)
    if found is not None:
        return found
    made = _new_decoder(hint, building)
    building[hint] = made
    return made


def _new_decoder(hint: Any, building: dict[Any, _Decoder]) -> _Decoder:
    if hint is Any:
        return _identity
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # NewType: its call returns its argument
        return _make_decoder(supertype, building)
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, types.UnionType):
        return _union_decoder(args, building)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint, building)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_decoder(hint)
    if origin in (tuple, list, Sequence, typing.Sequence, frozenset, set):
        return _sequence_decoder(origin, args, building)
    if origin in (dict, Mapping, typing.Mapping):
        return _mapping_decoder(args, building)
    if hint is float:
        return _float
    if hint in (int, str, bool):
        return _primitive_decoder(hint)
    if hint is type(None):
        return _none
    return _identity


def _union_decoder(args: tuple[Any, ...], building: dict[Any, _Decoder]) -> _Decoder:
    optional = type(None) in args
    options = [a for a in args if a is not type(None)]
    tagged = {getattr(o, "__name__", None): _make_decoder(o, building) for o in reversed(options)}
    tries: list[_Decoder] = [_make_decoder(o, building) for o in options]
    if len(tries) == 1:
        only = tries[0]

        def one_option(data: Any) -> Any:
            if data is None and optional:
                return None
            if type(data) is dict and TAG in data:
                return union(data)
            return only(data)

    def union(data: Any) -> Any:
        if data is None and optional:
            return None
        if isinstance(data, dict) and TAG in data:
            tag = data[TAG]
            option = tagged.get(tag) if isinstance(tag, str) else None
            if option is None:
                raise CodecError(f"unknown type tag {data[TAG]!r}")
            return option({k: v for k, v in data.items() if k != TAG})
        if len(tries) == 1:
            return tries[0](data)
        for attempt in tries:
            try:
                return attempt(data)
            except (CodecError, TypeError, ValueError):
                pass
        raise CodecError(f"matches none of {options}")

    return one_option if len(tries) == 1 else union


def _dataclass_decoder(cls: type, building: dict[Any, _Decoder]) -> _Decoder:
    fields: dict[str, tuple[frozenset[type], _Decoder]] = {}
    """Per field: the JSON types its values keep unchanged (no call needed), and its decoder."""

    def dataclass(data: Any) -> Any:
        if not isinstance(data, dict):
            raise CodecError(f"expected an object for {cls.__name__}")
        kwargs = {}
        for name, value in data.items():
            field = fields.get(name)
            if field is not None:
                kwargs[name] = value if type(value) in field[0] else field[1](value)
        try:
            return cls(**kwargs)
        except _UNFIT as exc:
            raise CodecError(str(exc)) from exc

    made: _Decoder = dataclass
    if cls in SHARED:
        made = _shared(cls, dataclass)
    building[cls] = made  # before its fields: a field may hold this very class (a group's groups)
    hints = _hints(cls)
    for f in _init_fields(cls):
        hint = hints.get(f.name, Any)
        fields[f.name] = (_unchanged(hint), _make_decoder(hint, building))
    return made


_JSON_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None), list, dict})


def _unchanged(hint: Any) -> frozenset[type]:
    """The JSON types whose values decoding as ``hint`` gives back unchanged (the same object)."""
    if hint is Any:
        return _JSON_TYPES
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:
        return _unchanged(supertype)
    if get_origin(hint) in (Union, types.UnionType):
        args = get_args(hint)
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            return frozenset()
        kept = _unchanged(options[0]) - {dict}  # a tagged object is looked at
        return kept | {type(None)} if type(None) in args else kept
    if hint in (str, int, float, bool):
        return frozenset({hint})
    if hint is type(None):
        return frozenset({type(None)})
    return frozenset()


SHARED: frozenset[type] = frozenset({AgentInfo})
"""Types many stored values repeat (every instance carries its agent's ``AgentInfo``): decoded once per
distinct stored form, the objects shared (they are frozen). Saves a new leader decoding, validating and
keeping 100,000 copies of 500 agents."""
_SHARED_LIMIT = 65_536


def _shared(cls: type, decode_one: _Decoder) -> _Decoder:
    seen: dict[Any, Any] = {}

    def shared(data: Any) -> Any:
        try:
            key = _frozen(data)
            return seen[key]
        except KeyError:
            pass
        except TypeError:  # not a stored form that can be a key
            return decode_one(data)
        value = decode_one(data)
        if len(seen) >= _SHARED_LIMIT:
            seen.clear()
        seen[key] = value
        return value

    return shared


def _frozen(data: Any) -> Any:
    """A hashable form of JSON data, equal exactly when the data is equal (types kept apart: 1, 1.0, True)."""
    kind = type(data)
    if kind is dict:
        return (dict, tuple((k, _frozen(v)) for k, v in data.items()))
    if kind is list:
        return (list, tuple(_frozen(v) for v in data))
    return (kind, data)


def _enum_decoder(cls: type[enum.Enum]) -> _Decoder:
    members = {(type(m.value), m.value): m for m in cls}

    def member(data: Any) -> Any:
        try:
            return members[(type(data), data)]
        except (KeyError, TypeError):
            pass
        try:
            return cls(data)
        except ValueError as exc:
            raise CodecError(str(exc)) from exc

    return member


def _sequence_decoder(origin: Any, args: tuple[Any, ...], building: dict[Any, _Decoder]) -> _Decoder:
    if origin is tuple and args and args[-1] is not Ellipsis:  # fixed-length tuple[A, B, ...]
        positions = [_make_decoder(a, building) for a in args]

        def fixed(data: Any) -> Any:
            if not isinstance(data, list):
                raise CodecError("expected a list")
            return tuple(d(item) for d, item in zip(positions, data))

        return fixed
    item = _make_decoder(args[0] if args else Any, building)
    kept = _unchanged(args[0] if args else Any)
    make: Callable[[list[Any]], Any] = frozenset if origin in (frozenset, set) else \
        list if origin is list else tuple

    def sequence(data: Any) -> Any:
        if not isinstance(data, list):
            raise CodecError("expected a list")
        for d in data:
            if type(d) not in kept:
                return make([item(d) for d in data])
        return make(data) if make is not list else list(data)

    return sequence


def _mapping_decoder(args: tuple[Any, ...], building: dict[Any, _Decoder]) -> _Decoder:
    value = _make_decoder(args[1] if len(args) == 2 else Any, building)
    if value is _identity:
        def plain(data: Any) -> Any:
            if not isinstance(data, dict):
                raise CodecError("expected an object")
            return dict(data)

        return plain

    def mapping(data: Any) -> Any:
        if not isinstance(data, dict):
            raise CodecError("expected an object")
        return {k: value(v) for k, v in data.items()}

    return mapping


def _float(data: Any) -> float:
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise CodecError("expected a number")
    return float(data)


def _primitive_decoder(kind: type) -> _Decoder:
    def primitive(data: Any) -> Any:
        if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
            raise CodecError(f"expected {kind.__name__}")
        return data

    return primitive


def _none(data: Any) -> None:
    if data is not None:
        raise CodecError("expected null")
    return None


def from_jsonable(hint: Any, data: Any, path: str = "$") -> Any:
    if hint is Any:
        return data
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # NewType
        return hint(from_jsonable(supertype, data, path))
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if isinstance(data, dict) and TAG in data:
            for option in options:
                if getattr(option, "__name__", None) == data[TAG]:
                    body = {k: v for k, v in data.items() if k != TAG}
                    return from_jsonable(option, body, path)
            raise CodecError(f"{path}: unknown type tag {data[TAG]!r}")
        errors = []
        for option in options:
            try:
                return from_jsonable(option, data, path)
            except (CodecError, TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise CodecError(f"{path}: matches none of {options}: {errors}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise CodecError(f"{path}: expected an object for {hint.__name__}")
        hints = _hints(hint)
        kwargs = {}
        for f in _init_fields(hint):
            if f.name in data:
                kwargs[f.name] = from_jsonable(hints.get(f.name, Any), data[f.name], f"{path}.{f.name}")
        try:
            return hint(**kwargs)
        except _UNFIT as exc:
            raise CodecError(f"{path}: {exc}") from exc
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(data)
        except ValueError as exc:
            raise CodecError(f"{path}: {exc}") from exc
    if origin in (tuple, list, Sequence, typing.Sequence, frozenset, set):
        if not isinstance(data, list):
            raise CodecError(f"{path}: expected a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(from_jsonable(h, d, f"{path}[{i}]") for i, (h, d) in enumerate(zip(args, data)))
        item = args[0] if args else Any
        items = [from_jsonable(item, d, f"{path}[{i}]") for i, d in enumerate(data)]
        if origin in (frozenset, set):
            return frozenset(items)
        return tuple(items) if origin is not list else items
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(data, dict):
            raise CodecError(f"{path}: expected an object")
        value_hint = args[1] if len(args) == 2 else Any
        return {k: from_jsonable(value_hint, v, f"{path}.{k}") for k, v in data.items()}
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise CodecError(f"{path}: expected a number")
        return float(data)
    if hint in (int, str, bool):
        if not isinstance(data, hint) or (hint is int and isinstance(data, bool)):
            raise CodecError(f"{path}: expected {hint.__name__}")
        return data
    if hint is type(None):
        if data is not None:
            raise CodecError(f"{path}: expected null")
        return None
    return data
