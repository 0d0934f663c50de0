"""Storage codecs: core domain objects <-> compact JSON bytes. Not the API's JSON (that is ``api.schemas``).

Owns one generic codec driven by the dataclasses' type hints, so a field added to a core type is stored
without anyone touching this module: dataclasses become objects of their init fields (defaults left out),
enums their value, tuples and sequences lists, mappings objects, ``NewType`` ids their base type, and a field
whose type is a union of dataclasses (``Executor``, ``UnreachableStrategy``, a constraint's value...) carries a
``"@type"`` tag naming the class. Floats that are whole stay floats.

Fails: ``CodecError`` for data that does not fit the type (a corrupt or foreign value in the store).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")
TAG = "@type"


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


def decode(cls: type[T], raw: bytes) -> T:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"not JSON: {exc}") from exc
    result: T = from_jsonable(cls, data)
    return result


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
        except (TypeError, ValueError) as exc:
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
