"""Storage codecs: core domain objects <-> compact JSON bytes. Not the API's JSON (that is ``api.schemas``).

Owns one generic codec driven by the dataclasses' type hints, so a field added to a core type is stored
without anyone touching this module: dataclasses become objects of their init fields (defaults left out),
enums their value, tuples and sequences lists, mappings objects, ``NewType`` ids their base type, and a field
whose type is a union of dataclasses (``Executor``, ``UnreachableStrategy``, a constraint's value...) carries a
``"@type"`` tag naming the class. Floats that are whole stay floats.

Encoding is compiled the same way: ``encoder(hint)`` makes once per type the functions that give a value's
JSON data (per field its name, its default, its own encoder; union tags, sequences, mappings, enums decided
up front), and ``encode`` writes it with a JSON encoder made once. It gives byte for byte what
``encode_interpreted`` (the hints walked for every value, the encoder before it was compiled) gives; frozen
objects are encoded once (``_MEMO``), so a value sharing parts with one stored before encodes only the rest.

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
import json.encoder
import keyword
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


def encode(value: Any) -> bytes:
    """Compact JSON bytes for a core dataclass."""
    return _dumps(_value(value)).encode()  # what ``_encode_typed(value, type(value))`` gives (see ``_value``)


# -- compiled encoding -------------------------------------------------------------------------------------

_Encoder = Callable[[Any], Any]
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})
"""Exactly these types: a value of one is its own encoding under every hint (``to_jsonable`` gives it back), so
encoders pass it on without a call."""
_ENCODERS: dict[Any, _Encoder] = {}
"""Per hint, its encoder (``encoder``)."""
_DATACLASSES: dict[type, _Encoder | None] = {}
"""Per class of value: the encoder of its fields (memoised when frozen), ``None`` for a class not a dataclass."""
_BY_CLASS: dict[type, _Encoder] = {}
"""Per class of value, its encoding under a hint that gives it no structure of its own (``Any``, a class, a
union needing no tag): a dataclass's fields, an enum's value, ``to_jsonable`` for the rest."""


def encoder(hint: Any) -> _Encoder:
    """The encoding function for ``hint``, made once per type: what ``_encode_typed(value, hint)`` gives for
    every value (the same JSON data, the same errors for values that cannot be stored), with every
    ``get_origin``/``get_args``/field/default lookup done when it is made. Dataclasses are encoded by the class
    of the value (as ``_encode_typed`` does), their encoders made when a value of the class is first met, so
    a recursive type (a group's groups) needs no care. Made without a lock: a thread racing another makes
    an equal function, and the first one stored is kept."""
    try:
        return _ENCODERS[hint]
    except KeyError:
        pass
    except TypeError:  # an unhashable hint: made afresh every time
        return _new_encoder(hint)
    return _ENCODERS.setdefault(hint, _new_encoder(hint))


def _new_encoder(hint: Any) -> _Encoder:
    """The same dispatch on the hint as ``_encode_typed``, once."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, types.UnionType):
        return _tagged_union if _tagged(hint) else _value
    if origin in (tuple, list, Sequence, typing.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:  # fixed-length tuple[A, B, ...]
            return _fixed_tuple_encoder(tuple(encoder(a) for a in args))
        return _sequence_encoder(encoder(args[0] if args else Any))
    if origin in (dict, Mapping, typing.Mapping):
        return _mapping_encoder(encoder(args[1] if len(args) == 2 else Any))
    if origin in (frozenset, set):
        return _set_items
    return _value


def _value(value: Any) -> Any:
    """The encoding of ``value`` under a hint with no structure of its own (and of a whole stored value:
    ``_encode_typed(value, type(value))`` is this for every value, as ``type`` never gives a union, a
    parametrised generic or an alias)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    try:
        made = _BY_CLASS[kind]
    except KeyError:
        made = _class_encoder(kind)
    return made(value)


def _class_encoder(kind: type) -> _Encoder:
    made: _Encoder | None = _dataclass_encoder(kind)
    if made is None:
        # ``to_jsonable`` gives a primitive's subclass (an ``IntEnum``, a ``str`` enum) back as it is
        plain_enum = issubclass(kind, enum.Enum) and not issubclass(kind, (bool, int, float, str))
        made = _enum_value if plain_enum else to_jsonable
    return _BY_CLASS.setdefault(kind, made)


def _enum_value(value: Any) -> Any:
    return value.value


def _tagged_union(value: Any) -> Any:
    """A union of several dataclasses: a dataclass value's fields and its class's name under ``TAG``."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    fields = _dataclass_encoder(kind)
    if fields is None:
        return _value(value)
    return {TAG: kind.__name__, **fields(value)}  # a new object: the encoded fields are memoised and shared


def _is_not(kind: type, value: Any, structure: type | tuple[type, ...]) -> bool:
    """Whether a value of a class other than the expected exact ones is not encoded by the hint's structure:
    ``_encode_typed`` encodes any dataclass as one, and anything not a ``structure`` as ``to_jsonable``."""
    return _dataclass_encoder(kind) is not None or not isinstance(value, structure)


def _sequence_encoder(item: _Encoder) -> _Encoder:
    def sequence(value: Any) -> Any:
        kind = type(value)
        if kind is not tuple and kind is not list and _is_not(kind, value, (tuple, list)):
            return _value(value)
        return [v if type(v) in _PLAIN else item(v) for v in value]

    return sequence


def _fixed_tuple_encoder(positions: tuple[_Encoder, ...]) -> _Encoder:
    def fixed(value: Any) -> Any:
        kind = type(value)
        if kind is not tuple and kind is not list and _is_not(kind, value, (tuple, list)):
            return _value(value)
        return [v if type(v) in _PLAIN else e(v) for e, v in zip(positions, value)]

    return fixed


def _mapping_encoder(item: _Encoder) -> _Encoder:
    def mapping(value: Any) -> Any:
        kind = type(value)
        if kind is not dict and kind is not types.MappingProxyType and _is_not(kind, value, Mapping):
            return _value(value)
        return {k if type(k) is str else str(k): v if type(v) in _PLAIN else item(v) for k, v in value.items()}

    return mapping


def _set_items(value: Any) -> Any:
    """A ``frozenset`` or ``set`` field: ``_encode_typed`` leaves it to ``to_jsonable`` (items sorted by
    ``repr``, each encoded by ``to_jsonable``, not by the item hint)."""
    kind = type(value)
    if kind is frozenset or kind is set:
        return [v if type(v) in _PLAIN else to_jsonable(v) for v in sorted(value, key=repr)]
    return _value(value)


def _dataclass_encoder(kind: type) -> _Encoder | None:
    try:
        return _DATACLASSES[kind]
    except KeyError:
        pass
    made = _new_dataclass_encoder(kind) if dataclasses.is_dataclass(kind) else None
    return _DATACLASSES.setdefault(kind, made)


_SAME_EVERY_TIME: frozenset[Any] = frozenset({dict, list, tuple, set, frozenset})
"""Default factories whose every result is equal to the first (so it is made once, not for every value)."""


def _new_dataclass_encoder(cls: type) -> _Encoder:
    """The fields of a ``cls`` value, as ``_encode_fields`` gives them: per init field its name, its default
    (a field equal to it is left out) and its hint's encoder. Written out as one function of the class (as
    ``dataclasses`` writes ``__init__``): a field costs an attribute read, a test and a store, a third less
    than a loop over the fields. Fields in name order (``sort_keys`` then finds them sorted). Frozen classes
    are memoised as ``_encode_dataclass`` memoises them (``_memoised``)."""
    hints = _hints(cls)
    namespace: dict[str, Any] = {"PLAIN": _PLAIN, "MISSING": dataclasses.MISSING}
    lines = ["def fields(value):", "    out = {}"]
    for n, f in enumerate(sorted(_init_fields(cls), key=lambda f: f.name)):
        namespace[f"encode{n}"] = encoder(hints.get(f.name, Any))
        read = f"value.{f.name}" if f.name.isidentifier() and not keyword.iskeyword(f.name) else \
            f"getattr(value, {f.name!r})"
        store = f"out[{f.name!r}] = item if type(item) in PLAIN else encode{n}(item)"
        lines.append(f"    item = {read}")
        factory = f.default_factory
        if f.default is dataclasses.MISSING and factory is dataclasses.MISSING:
            lines.append(f"    {store}")
        elif f.default is not dataclasses.MISSING and _equal_to_itself(f.default) or factory in _SAME_EVERY_TIME:
            # one default, equal to itself: ``item is default`` implies ``item == default``, the cheap test first
            namespace[f"default{n}"] = f.default if factory is dataclasses.MISSING else factory()
            lines += [f"    if not (item is default{n} or item == default{n}):", f"        {store}"]
        else:  # a factory of ours or a NaN: the default made and compared for every value, as _default_of does
            made = _constant(f.default) if factory is dataclasses.MISSING else factory
            namespace[f"make_default{n}"] = made
            lines += [f"    default = make_default{n}()", "    if default is MISSING or not item == default:",
                      f"        {store}"]
    lines.append("    return out")
    exec("\n".join(lines), namespace)  # noqa: S102 (made from field names and objects of ours only)
    encode_fields: Callable[[Any], dict[str, Any]] = namespace["fields"]
    encode_fields.__qualname__ = encode_fields.__name__ = f"encode_{cls.__name__}_fields"
    frozen: bool = getattr(cls, "__dataclass_params__").frozen
    return _memoised(encode_fields) if frozen else encode_fields


def _equal_to_itself(default: Any) -> bool:
    """Whether ``item is default`` implies ``item == default`` (not for a NaN), so the test can come first."""
    try:
        return bool(default == default)
    except Exception:  # noqa: BLE001 (a default whose comparison fails is compared as _default_of does)
        return False


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


_MEMO: dict[int, tuple[Any, dict[str, Any]]] = {}
_MEMO_LIMIT = 200_000


def _memoised(encode_fields: Callable[[Any], dict[str, Any]],
              memo: dict[int, tuple[Any, dict[str, Any]]] = _MEMO) -> Callable[[Any], dict[str, Any]]:
    """Frozen objects are encoded once: a new root group shares every unchanged app and subtree with the
    previous one, a new instance its agent with the one it replaces, so persisting it only encodes what
    changed. Entries hold the object, so ids stay unique; the memo is emptied when it holds ``_MEMO_LIMIT``."""
    def frozen(value: Any) -> dict[str, Any]:
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        encoded = encode_fields(value)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[id(value)] = (value, encoded)
        return encoded

    return frozen


def _json_writer() -> Callable[[Any], str]:
    """``json.dumps(data, separators=(",", ":"), sort_keys=True)``, the same text, without making a
    ``JSONEncoder`` and its C encoder for every call: the C encoder ``json`` ends in is made once (with the
    arguments ``JSONEncoder.iterencode`` gives it), without the markers that catch a value holding itself
    (encoded data is built afresh from frozen values and never does; such a value would fail either way)."""
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
    one_shot = make_c_encoder(None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None,
                              ":", ",", True, False, True)

    def dumps(data: Any) -> str:
        return "".join(one_shot(data, 0))

    return dumps


_dumps = _json_writer()


# -- interpreted encoding: the hints walked for every value (the reference the compiled encoders match) ----

def encode_interpreted(value: Any) -> bytes:
    """``encode`` as it was before encoders were compiled: the same bytes for every value, made by walking
    the type hints for every value (``_encode_typed``) and ``json.dumps``. Kept for tests and benchmarks."""
    return json.dumps(_encode_typed(value, type(value)), separators=(",", ":"), sort_keys=True).encode()


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


_INTERPRETED_MEMO: dict[int, tuple[Any, dict[str, Any]]] = {}
"""``_MEMO`` of the interpreted path (its own, so neither path can hand the other its results)."""


def _encode_dataclass(value: Any) -> dict[str, Any]:
    if getattr(type(value), "__dataclass_params__").frozen:
        return _encode_frozen(value)
    return _encode_fields(value)


def _encode_fields(value: Any) -> dict[str, Any]:
    cls: type = type(value)
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for f in _init_fields(cls):
        item = getattr(value, f.name)
        default = _default_of(f)
        if default is not dataclasses.MISSING and item == default:
            continue
        out[f.name] = _encode_typed(item, hints.get(f.name, Any))
    return out


_encode_frozen = _memoised(_encode_fields, _INTERPRETED_MEMO)


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
