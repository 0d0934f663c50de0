"""A store in ZooKeeper: the state of highly available schedulers (several processes, one elected leader).

Owns: the znode layout under ``base_path``, the encoding of values into znodes, the versions it compares
against (compare-and-set), the fence every commit checks, and the mapping of kazoo's failures to
``StoreError``. It does not own the kazoo client unless it made it (``ZooKeeperStore.connect``).

Layout: one entity per znode, ``<base>/<namespace>/<bucket>/<name>``. The bucket is the first two hex digits
of the SHA-1 of the key (256 buckets, so no directory grows without bound and a listing stays small). The
name is ``k`` + the URL-safe base64 (no padding) of the key's UTF-8: reversible, always a valid znode name
(never ``.``, ``..`` or ``zookeeper``, even for the empty key). A key whose name would pass
``MAX_NAME_CHARS`` is named ``h`` + the SHA-256 of the key instead, and the key travels inside the value.
Namespaces are plain names (``[A-Za-z0-9_-]``, at most 100); a commit naming any other is refused before
anything is written. Keys are any strings of at most ``MAX_KEY_BYTES`` bytes of UTF-8.

Values: every entity znode starts with a one-byte format header (flag bits: zlib, chunked, keyed, pending;
unknown bits are refused when read). Values above ``COMPRESS_ABOVE`` bytes are zlib-compressed when that
makes them smaller. A stored form that would make the entity znode pass ``MAX_ZNODE_BYTES`` (64 KiB) is
split over child znodes ``c<tag>-<n>`` of the entity, ``CHUNK_BYTES`` each; the entity then holds the tag,
the number of chunks, their total length and a CRC-32 (a read that meets chunks of another write, or missing
ones, reads again). So no znode this version writes holds more than 64 KiB. Earlier versions chunked at
256 KiB; their znodes read the same (a chunked value says how many chunks it has) and are replaced by
64 KiB ones when the value is next written.

Commits: one multi-op transaction (kazoo ``transaction()``), so its changes apply together or not at all.
ZooKeeper refuses a request above the server's ``jute.maxbuffer`` (1 MiB by default), so a commit whose
operations exceed ``transaction_budget`` (``TRANSACTION_BUDGET``, 960 KiB of estimated request by default; a
commit of 1,000 instances of ~600 bytes is one transaction) is applied as SEVERAL transactions, in order. A
batcher that wants one transaction per commit sizes its batches with ``change_bytes`` against
``BATCH_BUDGET`` (768 KiB). Each part is atomic; the commit
as a whole is then not: a failure between parts leaves the earlier parts applied (the ``StoreError`` says
which). A split commit starts by checking the version of every existing entity it touches, before it
writes any, so a conflict seen then applies nothing but empty namespace/bucket znodes. A value split over
chunks is written chunks first and entity last, so readers see the old value or the new one, never a mix;
a new key whose chunks span parts is first created as a "pending" entity that reads as absent.

Compare-and-set: the store remembers the version of every znode it read (``load``, ``get``) or wrote.
Updates and deletes name that version; keys it knows to be absent are created (an existing node means
someone else wrote it). A key it knows nothing about is read when committed, so it has a version to compare
against. Another writer's change in between fails the whole transaction with ``StoreConflict``, nothing
applied; the store keeps its stale versions, so it keeps conflicting until ``load``/``get`` read again.
Deleting a key the store knows to be absent is a no-op.

Fencing: ``fence(path)`` names a znode (e.g. the leader's ephemeral election node) that every transaction
checks first. When it is gone, the commit fails with ``StoreFenced`` and writes nothing, and the store is
``fenced_out``: every later commit raises ``StoreFenced`` without contacting ZooKeeper until ``fence`` is
called again (a new leadership brings a new node).

Reads: ``load`` lists the buckets and reads every entity with ZooKeeper's ``multiRead`` (3.6+): hundreds of
reads per request, several requests outstanding. kazoo has no call for it, so the store hands its own
request object to the client's request queue (``KazooClient._call``, present since kazoo 1.0): kazoo's
connection loop costs about 0.3 ms per request (2 cores), too slow for 50,000 one-node requests. Against a server
without ``multiRead`` (or with ``batched_reads=False``) it pipelines ``get_async`` instead. ``load`` starts
with a ``sync`` so a new leader reads what the old one wrote; it is not a point-in-time snapshot if another
writer is active (fencing and compare-and-set make such a writer fail, not win).

Failures: every failure raises ``StoreError`` (never swallowed): ``StoreConflict`` and ``StoreFenced`` as
above; lost connections, expired sessions and timeouts as plain ``StoreError``. A request is only sent while
the client is connected; when a commit's outcome is unknown (connection lost while it was in flight) the
store forgets what it knew of the keys involved and reads them again on the next commit.

Calls block (the runtime calls them through ``asyncio.to_thread``); a lock makes the store thread-safe.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import itertools
import logging
import re
import secrets
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    EXCEPTIONS,
    BadArgumentsError,
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    UnimplementedError,
)
from kazoo.protocol.states import ZnodeStat

from scheduler.store.base import Change, Delete, Put, StoreConflict, StoreError, StoreFenced

log = logging.getLogger(__name__)

COMPRESS_ABOVE = 32 * 1024
"""Values longer than this are zlib-compressed (when that makes them smaller)."""
MAX_ZNODE_BYTES = 64 * 1024
"""No znode this store writes holds more data (ZooKeeper's own limit is 1 MiB; big znodes slow every reader,
follower and snapshot)."""
CHUNK_BYTES = MAX_ZNODE_BYTES
"""Chunk size of a stored form that does not fit in its entity znode."""
TRANSACTION_BUDGET = 960 * 1024
"""Estimated request bytes per transaction; a commit above it is applied as several transactions. The
estimate is never below the request ZooKeeper receives, which must stay under its ``jute.maxbuffer`` (1 MiB)."""
BATCH_BUDGET = 768 * 1024
"""What the ``change_bytes`` of a commit's changes may add up to for the commit to be ONE transaction (so
atomic): the other 192 KiB of ``TRANSACTION_BUDGET`` cover what a change alone does not tell: the fence
check, the creation of namespace and bucket znodes (~150 bytes each; at most 257 per namespace in the store's
life: a batch that fills five new namespaces at once may still be split), the deletion of the chunks of a
value it replaces or deletes (~250 bytes per 64 KiB of the old value)."""
PATH_ALLOWANCE = 64
"""Characters of chroot and base path ``change_bytes`` allows for (a store on a longer path logs a warning)."""
MAX_NAME_CHARS = 200
"""Longer escaped keys are named by their SHA-256 and carry the key in the value."""
MAX_KEY_BYTES = 63 * 1024
"""Keys written are at most this long (a key carried in its entity znode leaves it under MAX_ZNODE_BYTES);
longer keys written by earlier versions (up to 64 KiB) can still be read and deleted."""
_MAX_OLD_KEY_BYTES = 64 * 1024  # what versions before MAX_KEY_BYTES took
DEFAULT_TIMEOUT = 30.0
READ_BATCH = 256
"""Reads per multiRead request (values up to 64 KiB each: a batch of large values is a large response)."""
READ_WINDOW = 8
"""multiRead requests outstanding at once."""
PIPELINE_WINDOW = 1000
"""Single reads outstanding at once when multiRead is not available."""

_NAMESPACE = re.compile(r"[A-Za-z0-9_-]{1,100}")
_BUCKET = re.compile(r"[0-9a-f]{2}")
_ZLIB, _CHUNKED, _KEYED, _PENDING = 0x01, 0x02, 0x04, 0x08
_KNOWN_FLAGS = _ZLIB | _CHUNKED | _KEYED | _PENDING
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_KEY_LENGTH = struct.Struct(">I")
_CHUNK_HEAD = struct.Struct(">IIQI")  # tag, chunks, stored length, CRC-32 of the stored form
_OP_OVERHEAD = 64  # multi header, length prefixes, the open ACL, flags/version
_TORN_READ_RETRIES = 5
_STRUCTURE_RETRIES = 5
_GET_DATA, _GET_CHILDREN = 4, 8  # ZooKeeper op codes usable in a multiRead


# -- names and values ------------------------------------------------------------------------------------------
def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _bucket(key: str) -> str:
    return hashlib.sha1(_key_bytes(key), usedforsecurity=False).hexdigest()[:2]


def _node_name(key: str) -> str:
    raw = _key_bytes(key)
    name = "k" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if len(name) <= MAX_NAME_CHARS:
        return name
    return "h" + hashlib.sha256(raw).hexdigest()


def _key_from_name(name: str) -> str | None:
    """The key a ``k`` name spells, None for an ``h`` (hash) name; StoreError for a name this store never makes."""
    if name.startswith("h") and len(name) == 65:
        return None
    if name.startswith("k") and len(name) <= MAX_NAME_CHARS:
        try:
            spelled = name[1:].encode("ascii")
            raw = binascii.a2b_base64(spelled.translate(_FROM_URLSAFE) + b"=" * (-len(spelled) % 4),
                                      strict_mode=True)
            key = raw.decode("utf-8", "surrogatepass")
        except (binascii.Error, UnicodeError):
            pass
        else:  # only the canonical spelling (what _node_name writes) is a key
            if binascii.b2a_base64(raw, newline=False).rstrip(b"=").translate(_TO_URLSAFE) == spelled:
                return key
    raise StoreError(f"unexpected znode {name!r} in the store (not written by this store)")


@dataclass(frozen=True, slots=True)
class _Stored:
    """A value as written: the entity znode's data and, for a chunked value, its chunks."""

    data: bytes
    chunks: tuple[bytes, ...] = ()
    tag: int = 0


@dataclass(frozen=True, slots=True)
class _Head:
    """A parsed entity znode."""

    flags: int
    key: str | None  # the key carried in the value (hash-named entities)
    body: bytes  # the stored form, when not chunked
    tag: int = 0
    chunks: int = 0
    length: int = 0
    crc: int = 0


def _key_part(name: str, key: str) -> tuple[int, bytes]:
    if not name.startswith("h"):
        return 0, b""
    raw = _key_bytes(key)
    return _KEYED, _KEY_LENGTH.pack(len(raw)) + raw


def _chunk_name(tag: int, index: int) -> str:
    return f"c{tag:08x}-{index}"


def _fresh_tag(taken: Collection[str]) -> int:
    while True:
        tag = secrets.randbits(32)
        prefix = _chunk_name(tag, 0)[:-1]
        if not any(child.startswith(prefix) for child in taken):
            return tag


def _encode(name: str, key: str, value: bytes, taken: Collection[str]) -> _Stored:
    flags, body = 0, value
    if len(value) > COMPRESS_ABOVE:
        packed = zlib.compress(value, 6)
        if len(packed) < len(value):
            flags, body = _ZLIB, packed
    keyed, key_part = _key_part(name, key)
    if 1 + len(key_part) + len(body) <= MAX_ZNODE_BYTES:
        return _Stored(bytes([flags | keyed]) + key_part + body)
    tag = _fresh_tag(taken)
    chunks = tuple(body[i:i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES))
    head = _CHUNK_HEAD.pack(tag, len(chunks), len(body), zlib.crc32(body))
    return _Stored(bytes([flags | keyed | _CHUNKED]) + key_part + head, chunks, tag)


def _pending(name: str, key: str) -> bytes:
    keyed, key_part = _key_part(name, key)
    return bytes([_PENDING | keyed]) + key_part


def _parse(data: bytes) -> _Head:
    if not data or data[0] & ~_KNOWN_FLAGS:
        raise StoreError(f"unknown value format {data[:1]!r} (written by a newer version?)")
    flags, offset, key = data[0], 1, None
    try:
        if flags & _KEYED:
            (length,) = _KEY_LENGTH.unpack_from(data, offset)
            offset += _KEY_LENGTH.size
            key = data[offset:offset + length].decode("utf-8", "surrogatepass")
            offset += length
        if flags & _CHUNKED and not flags & _PENDING:
            tag, chunks, length, crc = _CHUNK_HEAD.unpack_from(data, offset)
            return _Head(flags, key, b"", tag, chunks, length, crc)
    except (struct.error, UnicodeDecodeError) as exc:
        raise StoreError(f"corrupt value header: {exc}") from exc
    return _Head(flags, key, data[offset:])


def _expand(flags: int, body: bytes) -> bytes:
    if not flags & _ZLIB:
        return body
    try:
        return zlib.decompress(body)
    except zlib.error as exc:
        raise StoreError(f"corrupt compressed value: {exc}") from exc


def change_bytes(change: Change, path_chars: int = PATH_ALLOWANCE) -> int:
    """At least the bytes ``change`` adds to the transaction of a commit (the store's own estimate, which is
    itself never below what ZooKeeper receives), for a store whose chroot and base path together have at most
    ``path_chars`` characters. Changes whose ``change_bytes`` add up to at most ``BATCH_BUDGET`` commit in one
    transaction. Pure: a batcher sizes batches with it before it knows the store's state."""
    name = _node_name(change.key)
    parent = path_chars + len(change.namespace) + 5  # "/<namespace>/<bucket>"
    entity = parent + 1 + len(name) + _OP_OVERHEAD
    if isinstance(change, Delete):
        return entity
    key_part = 4 + len(_key_bytes(change.key)) if name.startswith("h") else 0
    body = len(change.value)  # compressed only when that is smaller
    if 1 + key_part + body <= MAX_ZNODE_BYTES:
        return entity + 1 + key_part + body
    chunks = -(-body // CHUNK_BYTES)  # a pending entity, the chunks, then the entity's head
    return 2 * entity + 2 * (1 + key_part) + _CHUNK_HEAD.size + body + chunks * (entity + 20)


# -- what the store knows of each znode ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Node:
    version: int
    children: tuple[str, ...] = ()


_CHILDLESS = tuple(_Node(version) for version in range(1024))
"""Shared nodes of the versions most znodes have (a new leader remembers 100,000 of them)."""
_WHOLE = (0, _ZLIB)
"""Header bytes of a value kept whole in its entity znode (not chunked, keyed or pending)."""


class _Unknown(enum.Enum):
    TOKEN = 0


_UNKNOWN = _Unknown.TOKEN
_Known = _Node | None | _Unknown  # None: known to be absent
_Data = tuple[bytes, ZnodeStat]


class _Role(enum.Enum):
    STRUCTURE = "namespace or bucket"
    GUARD = "version check"
    ENTITY = "entity"
    CHUNK = "chunk"


class _Kind(enum.Enum):
    CREATE = "create"
    SET = "set"
    DELETE = "delete"
    CHECK = "check"


@dataclass(frozen=True, slots=True)
class _Op:
    kind: _Kind
    role: _Role
    path: str
    namespace: str
    key: str = ""  # the entity's key, or the bucket for a bucket znode ("" for the namespace znode)
    data: bytes = b""
    version: int = -1
    child: str = ""  # the chunk's name

    def add_to(self, transaction: Any) -> None:
        if self.kind is _Kind.CREATE:
            transaction.create(self.path, self.data)
        elif self.kind is _Kind.SET:
            transaction.set_data(self.path, self.data, self.version)
        elif self.kind is _Kind.DELETE:
            transaction.delete(self.path, self.version)
        else:
            transaction.check(self.path, self.version)

    def describe(self) -> str:
        what = f"{self.role.value} {self.namespace}/{self.key}" if self.key else f"{self.role.value} {self.namespace}"
        return f"{self.kind.value} of {what} (version {self.version})"


class _Torn(Exception):
    """A chunked value changed while it was read."""


class _StructureRace(Exception):
    """Another writer created a namespace or bucket znode first; nothing was applied, planning again helps."""


class _MultiRead:
    """A ZooKeeper ``multiRead`` request (op 22, ZooKeeper 3.6+): many getData/getChildren in one round trip.

    kazoo sends any object with ``type``, ``serialize`` and ``deserialize``. Results, in order: ``(data, stat)``
    for getData, a list of names for getChildren, an exception instance for an op that failed (e.g. NoNode)."""

    type = 22
    _header = struct.Struct("!iBi")
    _int = struct.Struct("!i")
    _stat = struct.Struct("!qqqqiiiqiiq")

    def __init__(self, ops: Sequence[tuple[int, str]]) -> None:
        self.ops = ops

    def __repr__(self) -> str:
        return f"MultiRead({len(self.ops)} ops)"

    def serialize(self) -> bytearray:
        out = bytearray()
        for op, path in self.ops:
            raw = path.encode("utf-8")
            out += self._header.pack(op, 0, -1) + self._int.pack(len(raw)) + raw + b"\0"
        out += self._header.pack(-1, 1, -1)
        return out

    def deserialize(self, buffer: bytes, offset: int) -> list[object]:
        try:
            return self._results(buffer, offset)
        except (struct.error, UnicodeDecodeError, KeyError) as exc:
            raise StoreError(f"unreadable multiRead response: {exc!r}") from exc

    def _results(self, buffer: bytes, offset: int) -> list[object]:
        results: list[object] = []
        header, length, stat = self._header, self._int, self._stat
        while True:
            op, done, _ = header.unpack_from(buffer, offset)
            offset += header.size
            if done:
                return results
            if op == -1:
                (code,) = length.unpack_from(buffer, offset)
                offset += length.size
                results.append(EXCEPTIONS[code]())
            elif op == _GET_DATA:
                (size,) = length.unpack_from(buffer, offset)
                offset += length.size
                data = bytes(buffer[offset:offset + size]) if size > 0 else b""
                offset += max(size, 0)
                results.append((data, ZnodeStat._make(stat.unpack_from(buffer, offset))))
                offset += stat.size
            elif op == _GET_CHILDREN:
                (count,) = length.unpack_from(buffer, offset)
                offset += length.size
                names = []
                for _ in range(max(count, 0)):
                    (size,) = length.unpack_from(buffer, offset)
                    offset += length.size
                    names.append(bytes(buffer[offset:offset + size]).decode("utf-8"))
                    offset += size
                results.append(names)
            else:
                raise StoreError(f"unexpected op {op} in a multiRead response")


# -- the store -----------------------------------------------------------------------------------------------------
class ZooKeeperStore:
    """The ``Store`` in ZooKeeper (see the module docstring); also ``fence``/``fenced_out`` for leaders."""

    def __init__(self, client: KazooClient, base_path: str, *, timeout: float = DEFAULT_TIMEOUT,
                 transaction_budget: int = TRANSACTION_BUDGET, batched_reads: bool = True) -> None:
        """A store on ``client`` (started; the caller keeps owning it) under ``base_path`` (created if missing)."""
        if transaction_budget <= CHUNK_BYTES:
            raise ValueError(f"transaction_budget must exceed one chunk ({CHUNK_BYTES} bytes)")
        self._client = client
        self._base = _check_base_path(base_path)
        self._timeout = timeout
        self._budget = transaction_budget
        self._batched_reads = batched_reads
        self._chroot = (client.chroot or "").rstrip("/")
        if len(self._chroot.encode()) + len(self._base.encode()) > PATH_ALLOWANCE:
            log.warning("the store's path %s%s is longer than change_bytes allows for (%d): batches sized "
                        "with it may need several transactions", self._chroot, self._base, PATH_ALLOWANCE)
        self._lock = threading.RLock()
        self._owns_client = False
        self._closed = False
        self._fence: str | None = None
        self._fenced_out = False
        self._known: dict[str, dict[str, _Known]] = {}
        self._complete: set[str] = set()  # namespaces loaded whole: a key not in _known is absent
        self._structure: dict[str, set[str] | None] = {}  # existing buckets (None: no namespace znode)
        with self._lock, self._zookeeper_errors(f"cannot open the store at {self._base}"):
            self._require_connection()
            self._wait(client.ensure_path_async(self._base))

    @classmethod
    def connect(cls, hosts: str, base_path: str, timeout: float = 10.0, *, request_timeout: float = DEFAULT_TIMEOUT,
                transaction_budget: int = TRANSACTION_BUDGET, batched_reads: bool = True) -> ZooKeeperStore:
        """A store with a client of its own on ``hosts`` (``host:port,...[/chroot]``); ``close`` stops it.

        ``timeout`` bounds connecting and is the session timeout. A chroot that does not exist yet is created
        first, over a connection without it (kazoo warns when it connects to a missing chroot)."""
        servers, _, chroot = hosts.partition("/")
        if chroot.strip("/"):
            _ensure_chroot(servers, "/" + chroot.strip("/"), timeout)
        client = _started_client(hosts, timeout)
        try:
            store = cls(client, base_path, timeout=request_timeout, transaction_budget=transaction_budget,
                        batched_reads=batched_reads)
        except BaseException:
            _stop_client(client)
            raise
        store._owns_client = True
        return store

    @property
    def client(self) -> KazooClient:
        return self._client

    @property
    def base_path(self) -> str:
        return self._base

    # -- fencing --------------------------------------------------------------------------------------------
    def fence(self, path: str | None) -> None:
        """Every later commit checks that ``path`` exists (None: no check) and clears ``fenced_out``.

        ``path`` is a path of the store's client (below its chroot, like ``base_path``)."""
        if path is not None and not path.startswith("/"):
            raise ValueError(f"fence path must be absolute: {path!r}")
        with self._lock:
            self._fence = path
            self._fenced_out = False

    @property
    def fenced_out(self) -> bool:
        """True once a commit found the fence gone; commits raise ``StoreFenced`` until ``fence`` is called."""
        return self._fenced_out

    # -- reads ----------------------------------------------------------------------------------------------
    def load(self, namespace: str) -> dict[str, bytes]:
        _check_namespace(namespace)
        with self._lock, self._zookeeper_errors(f"cannot load {namespace}"):
            self._require_usable()
            self._wait(self._client.sync_async(self._base))
            buckets = self._read_children([self._namespace_path(namespace)])[0]
            if buckets is None:
                self._structure[namespace] = None
                self._known[namespace] = {}
                self._complete.add(namespace)
                return {}
            for bucket in buckets:
                if not _BUCKET.fullmatch(bucket):
                    raise StoreError(f"unexpected znode {bucket!r} in namespace {namespace}")
            self._structure[namespace] = set(buckets)
            listings = self._read_children([f"{self._namespace_path(namespace)}/{b}" for b in buckets])
            prefix = self._namespace_path(namespace)
            paths = [(f"{prefix}/{bucket}/{name}", name)
                     for bucket, names in zip(buckets, listings) for name in (names or ())]
            values: dict[str, bytes] = {}
            known: dict[str, _Known] = {}
            for (path, name), got in zip(paths, self._stream_data([path for path, _ in paths])):
                entity = self._settle(path, name, got)
                if entity is not None:
                    key, value, node = entity
                    known[key] = node
                    if value is not None:
                        values[key] = value
            self._known[namespace] = known
            self._complete.add(namespace)
            return values

    def get(self, namespace: str, key: str) -> bytes | None:
        _check_namespace(namespace)
        with self._lock, self._zookeeper_errors(f"cannot read {namespace}/{key}"):
            self._require_usable()
            path = self._entity_path(namespace, key)
            name = path.rpartition("/")[2]
            entity = self._settle(path, name, self._read_data([path])[0])
            if entity is None:
                self._remember(namespace, key, None)
                return None
            found, value, node = entity
            if found != key:
                raise StoreError(f"{path} holds key {found!r}, not {key!r}")
            self._remember(namespace, key, node)
            return value

    # -- writes ---------------------------------------------------------------------------------------------
    def commit(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        final = _collapse(changes)
        with self._lock:
            self._require_usable()
            if self._fenced_out:
                raise StoreFenced(f"fenced out: {self._fence} was gone at an earlier commit")
            for _ in range(_STRUCTURE_RETRIES):
                with self._zookeeper_errors("commit failed, nothing applied"):
                    ops = self._plan(final)
                try:
                    self._apply(ops, final)
                    return
                except _StructureRace:
                    continue
            raise StoreError("namespaces keep being created under the store; commit not applied")

    def _plan(self, final: dict[tuple[str, str], Change]) -> list[_Op]:
        """The operations of a commit, in order: structure, (guards,) entities with their chunks."""
        self._resolve([slot for slot in final if self._lookup(*slot) is _UNKNOWN])
        entity_ops: list[_Op] = []
        guards: list[_Op] = []
        creating: dict[str, set[str]] = {}
        for (namespace, key), change in final.items():
            node = self._lookup(namespace, key)
            assert not isinstance(node, _Unknown)
            ops = self._key_ops(namespace, key, node, change)
            entity_ops += ops
            if node is None and ops:
                creating.setdefault(namespace, set()).add(_bucket(key))
            if node is not None and ops:
                guards.append(_Op(_Kind.CHECK, _Role.GUARD, self._entity_path(namespace, key), namespace, key,
                                  version=node.version))
        ops = self._structure_ops(creating) + entity_ops
        if self._size(ops) + self._fence_size() > self._budget:  # split: check every version up front
            ops = ops[:len(ops) - len(entity_ops)] + guards + entity_ops
        return ops

    def _key_ops(self, namespace: str, key: str, node: _Node | None, change: Change) -> list[_Op]:
        path = self._entity_path(namespace, key)
        if isinstance(change, Delete):
            if node is None:
                return []
            return [*self._drop_chunks(namespace, key, path, node.children),
                    _Op(_Kind.DELETE, _Role.ENTITY, path, namespace, key, version=node.version)]
        name = path.rpartition("/")[2]
        stored = _encode(name, key, change.value, node.children if node else ())
        chunks = [_Op(_Kind.CREATE, _Role.CHUNK, f"{path}/{_chunk_name(stored.tag, n)}", namespace, key,
                      data=data, child=_chunk_name(stored.tag, n)) for n, data in enumerate(stored.chunks)]
        if node is None and not chunks:
            return [_Op(_Kind.CREATE, _Role.ENTITY, path, namespace, key, data=stored.data)]
        if node is None:  # chunks need their parent: create it pending (reads as absent), then complete it
            return [_Op(_Kind.CREATE, _Role.ENTITY, path, namespace, key, data=_pending(name, key)), *chunks,
                    _Op(_Kind.SET, _Role.ENTITY, path, namespace, key, data=stored.data, version=0)]
        return [*chunks, _Op(_Kind.SET, _Role.ENTITY, path, namespace, key, data=stored.data, version=node.version),
                *self._drop_chunks(namespace, key, path, node.children)]

    @staticmethod
    def _drop_chunks(namespace: str, key: str, path: str, children: Sequence[str]) -> list[_Op]:
        return [_Op(_Kind.DELETE, _Role.CHUNK, f"{path}/{child}", namespace, key, child=child) for child in children]

    def _structure_ops(self, creating: dict[str, set[str]]) -> list[_Op]:
        """Creates of the namespace and bucket znodes the commit's new keys need (part of the transaction)."""
        ops: list[_Op] = []
        for namespace, buckets in creating.items():
            if namespace not in self._structure:
                listed = self._read_children([self._namespace_path(namespace)])[0]
                self._structure[namespace] = None if listed is None else set(listed)
            existing = self._structure[namespace]
            if existing is None:
                ops.append(_Op(_Kind.CREATE, _Role.STRUCTURE, self._namespace_path(namespace), namespace))
            for bucket in sorted(buckets - (existing or set())):
                ops.append(_Op(_Kind.CREATE, _Role.STRUCTURE, f"{self._namespace_path(namespace)}/{bucket}",
                               namespace, bucket))
        return ops

    def _apply(self, ops: list[_Op], final: dict[tuple[str, str], Change]) -> None:
        if not ops:  # e.g. deletes of keys that are not there
            return
        parts = self._split(ops)
        if len(parts) > 1:
            log.info("commit of %d changes (%d bytes) applied as %d transactions", len(final), self._size(ops),
                     len(parts))
        for number, part in enumerate(parts, 1):
            transaction = self._client.transaction()
            if self._fence is not None:
                transaction.check(self._fence, -1)
            for op in part:
                op.add_to(transaction)
            applied = f"parts 1-{number - 1} of {len(parts)} were applied, " if number > 1 else ""
            if not self._client.connected:
                raise StoreError(f"commit failed: not connected to ZooKeeper; {applied}part {number} was not sent")
            try:
                results = self._wait(transaction.commit_async())
            except (KazooException, self._client.handler.timeout_exception) as exc:
                self._forget_keys(final)
                raise StoreError(f"commit failed ({_describe(exc)}): {applied}the outcome of part {number} is "
                                 "unknown") from exc
            failure = _first_failure(results)
            offset = 0 if self._fence is None else 1
            if failure is None:
                for op, result in zip(part, results[offset:]):
                    self._learn(op, result)
                continue
            index, error = failure
            failed = None if index < offset else part[index - offset]
            if failed is not None and failed.role is _Role.STRUCTURE and isinstance(error, NodeExistsError) \
                    and number == 1:
                self._structure.pop(failed.namespace, None)  # another writer created it meanwhile; nothing applied
                raise _StructureRace()
            raise self._part_failed(number, len(parts), failed, error)

    def _part_failed(self, number: int, total: int, op: _Op | None, exc: Exception) -> StoreError:
        applied = f" (parts 1-{number - 1} of {total} were applied)" if number > 1 else " (nothing applied)"
        if op is None:
            if isinstance(exc, NoNodeError):
                self._fenced_out = True
                log.warning("commit refused: the fence %s is gone; this store is fenced out", self._fence)
                return StoreFenced(f"the fence {self._fence} is gone: this store may no longer write{applied}")
            return StoreError(f"checking the fence {self._fence} failed: {_describe(exc)}{applied}")
        if isinstance(exc, NoNodeError):
            self._structure.pop(op.namespace, None)
        if isinstance(exc, (BadVersionError, NodeExistsError, NoNodeError, NotEmptyError)):
            log.warning("commit conflict: %s: %s%s", op.describe(), _describe(exc), applied)
            return StoreConflict(f"another writer changed the store: {op.describe()} failed with "
                                 f"{_describe(exc)}{applied}")
        return StoreError(f"commit failed: {op.describe()}: {_describe(exc)}{applied}")

    def _learn(self, op: _Op, result: object) -> None:
        """What a successful operation tells about the znodes."""
        if op.role is _Role.STRUCTURE:
            buckets = self._structure.get(op.namespace)
            if buckets is None:
                buckets = self._structure[op.namespace] = set()
            if op.key:
                buckets.add(op.key)
            return
        if op.role is _Role.GUARD:
            return
        node = self._lookup(op.namespace, op.key)
        learned: _Known = _UNKNOWN  # what the operations below cannot explain is read again before a write
        if op.role is _Role.ENTITY and op.kind is _Kind.CREATE:
            learned = _Node(0)
        elif op.role is _Role.ENTITY and op.kind is _Kind.DELETE:
            learned = None
        elif op.role is _Role.ENTITY and isinstance(node, _Node) and isinstance(result, ZnodeStat):
            learned = _Node(result.version, node.children)
        elif op.role is _Role.CHUNK and isinstance(node, _Node) and op.kind is _Kind.CREATE:
            learned = _Node(node.version, (*node.children, op.child))
        elif op.role is _Role.CHUNK and isinstance(node, _Node):
            learned = _Node(node.version, tuple(c for c in node.children if c != op.child))
        self._remember(op.namespace, op.key, learned)

    def _split(self, ops: list[_Op]) -> list[list[_Op]]:
        """Consecutive parts of at most the budget each (an operation is never split; parts are never empty)."""
        parts: list[list[_Op]] = [[]]
        size = self._fence_size()
        for op in ops:
            cost = self._op_size(op)
            if parts[-1] and size + cost > self._budget:
                parts.append([])
                size = self._fence_size()
            parts[-1].append(op)
            size += cost
        return parts

    def _op_size(self, op: _Op) -> int:
        return len(self._chroot) + len(op.path.encode("utf-8")) + len(op.data) + _OP_OVERHEAD

    def _size(self, ops: Sequence[_Op]) -> int:
        return sum(self._op_size(op) for op in ops)

    def _fence_size(self) -> int:
        return 0 if self._fence is None else len(self._chroot) + len(self._fence.encode("utf-8")) + _OP_OVERHEAD

    # -- what the store knows ---------------------------------------------------------------------------------
    def _lookup(self, namespace: str, key: str) -> _Known:
        space = self._known.get(namespace)
        if space is not None and key in space:
            return space[key]
        return None if namespace in self._complete else _UNKNOWN

    def _remember(self, namespace: str, key: str, node: _Known) -> None:
        self._known.setdefault(namespace, {})[key] = node

    def _forget_keys(self, final: dict[tuple[str, str], Change]) -> None:
        """After a commit of unknown outcome: read these keys again before writing them."""
        for namespace, key in final:
            self._remember(namespace, key, _UNKNOWN)
            self._structure.pop(namespace, None)

    def _resolve(self, slots: list[tuple[str, str]]) -> None:
        """Reads the versions of keys the store knows nothing about."""
        if not slots:
            return
        paths = [self._entity_path(namespace, key) for namespace, key in slots]
        for (namespace, key), path, got in zip(slots, paths, self._read_data(paths)):
            try:
                node = None if got is None else self._node_of(path, got[1])
            except _Torn:  # deleted while read: absent (a create conflicts if it came back meanwhile)
                node = None
            self._remember(namespace, key, node)

    # -- reading znodes -------------------------------------------------------------------------------------------
    def _settle(self, path: str, name: str, got: _Data | None) -> tuple[str, bytes | None, _Node] | None:
        """The key, value (None while pending) and node of an entity read as ``got`` (None: it is gone)."""
        for _ in range(_TORN_READ_RETRIES):
            if got is None:
                return None
            try:
                return self._decode(path, name, *got)
            except _Torn:
                got = self._read_data([path])[0]
        raise StoreError(f"{path} keeps changing while it is read")

    def _decode(self, path: str, name: str, data: bytes, stat: ZnodeStat) -> tuple[str, bytes | None, _Node]:
        if data and data[0] in _WHOLE:  # the common case, without building a _Head
            key = _key_from_name(name)
            if key is not None:
                return key, _expand(data[0], data[1:]), self._node_of(path, stat)
        head = _parse(data)
        key = _key_from_name(name)
        if key is None:
            if head.key is None or _node_name(head.key) != name:
                raise StoreError(f"{path} does not hold the key its name is the hash of")
            key = head.key
        node = self._node_of(path, stat)
        if head.flags & _PENDING:
            return key, None, node
        body = self._read_chunks(path, head) if head.flags & _CHUNKED else head.body
        return key, _expand(head.flags, body), node

    def _node_of(self, path: str, stat: ZnodeStat) -> _Node:
        if not stat.numChildren:
            version = stat.version
            return _CHILDLESS[version] if 0 <= version < len(_CHILDLESS) else _Node(version)
        children = self._read_children([path])[0]
        if children is None:
            raise _Torn()
        return _Node(stat.version, tuple(children))

    def _read_chunks(self, path: str, head: _Head) -> bytes:
        got = self._read_data([f"{path}/{_chunk_name(head.tag, n)}" for n in range(head.chunks)], batch=12)
        parts = [item[0] for item in got if item is not None]
        body = b"".join(parts)
        if len(parts) != head.chunks or len(body) != head.length or zlib.crc32(body) != head.crc:
            raise _Torn()
        return body

    def _read_data(self, paths: Sequence[str], batch: int = READ_BATCH) -> list[_Data | None]:
        """``(data, stat)`` of every path, None where the znode does not exist."""
        return self._read([(_GET_DATA, path) for path in paths], batch)  # type: ignore[return-value]

    def _read_children(self, paths: Sequence[str]) -> list[list[str] | None]:
        """The children's names of every path, None where the znode does not exist."""
        return self._read([(_GET_CHILDREN, path) for path in paths])  # type: ignore[return-value]

    def _read(self, ops: Sequence[tuple[int, str]], batch: int = READ_BATCH) -> list[object]:
        """Results in order: ``(data, stat)`` / child names, or None where the znode does not exist."""
        if self._batched_reads:
            try:
                results = self._read_batched(ops, batch)
            except (UnimplementedError, BadArgumentsError):
                log.warning("ZooKeeper does not serve multiRead (older than 3.6?): reading znode by znode")
                self._batched_reads = False
            else:
                return [_result(item) for item in results]
        return [_result(item) for item in self._read_pipelined(ops)]

    def _read_batched(self, ops: Sequence[tuple[int, str]], batch: int) -> list[object]:
        return [item for results in self._batches(ops, batch) for item in results]

    def _batches(self, ops: Sequence[tuple[int, str]], batch: int) -> Iterator[list[object]]:
        """The results of ``ops``, one multiRead response at a time, ``READ_WINDOW`` requests outstanding."""
        outstanding: deque[Any] = deque()
        for start in range(0, len(ops), batch):
            if len(outstanding) >= READ_WINDOW:
                yield self._wait(outstanding.popleft())
            request = _MultiRead([(op, self._chroot + path) for op, path in ops[start:start + batch]])
            outstanding.append(self._send(request))
        while outstanding:
            yield self._wait(outstanding.popleft())

    def _stream_data(self, paths: Sequence[str]) -> Iterator[_Data | None]:
        """What ``_read_data`` gives, as the responses arrive: the caller works on a response while ZooKeeper
        reads the next ones."""
        if self._batched_reads:
            responses = self._batches([(_GET_DATA, path) for path in paths], READ_BATCH)
            try:
                first = next(responses, [])
            except (UnimplementedError, BadArgumentsError):
                log.warning("ZooKeeper does not serve multiRead (older than 3.6?): reading znode by znode")
                self._batched_reads = False
            else:
                for results in itertools.chain([first], responses):
                    for item in results:
                        yield _result(item)  # type: ignore[misc]
                return
        yield from self._read_data(paths)

    def _send(self, request: _MultiRead) -> Any:
        self._require_connection()
        pending = self._client.handler.async_result()
        self._client._call(request, pending)
        return pending

    def _read_pipelined(self, ops: Sequence[tuple[int, str]]) -> list[object]:
        results: list[object] = []
        outstanding: deque[Any] = deque()

        def collect() -> None:
            try:
                results.append(self._wait(outstanding.popleft()))
            except NoNodeError as exc:
                results.append(exc)

        for op, path in ops:
            if len(outstanding) >= PIPELINE_WINDOW:
                collect()
            call: Callable[[str], Any] = (self._client.get_async if op == _GET_DATA
                                          else self._client.get_children_async)
            outstanding.append(call(path))
        while outstanding:
            collect()
        return results

    def _wait(self, pending: Any) -> Any:
        return pending.get(timeout=self._timeout)

    # -- paths, state, errors -------------------------------------------------------------------------------------
    def _namespace_path(self, namespace: str) -> str:
        return f"{self._base}/{namespace}"

    def _entity_path(self, namespace: str, key: str) -> str:
        return f"{self._base}/{namespace}/{_bucket(key)}/{_node_name(key)}"

    def _require_usable(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        self._require_connection()

    def _require_connection(self) -> None:
        # Requests made while kazoo reconnects wait in its queue and may be sent much later: refuse instead.
        if not self._client.connected:
            raise StoreError(f"not connected to ZooKeeper (client state {self._client.state})")

    @contextmanager
    def _zookeeper_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (KazooException, self._client.handler.timeout_exception) as exc:
            raise StoreError(f"{what}: {_describe(exc)}") from exc

    def __enter__(self) -> ZooKeeperStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops using the client; stops the client only if ``connect`` made it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._owns_client:
                _stop_client(self._client)


# -- helpers ------------------------------------------------------------------------------------------------------
def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise StoreError(f"bad namespace {namespace!r} (letters, digits, '_' and '-' only)")


def _check_base_path(path: str) -> str:
    parts = path.strip("/").split("/")
    if not path.startswith("/") or not all(parts) or any(p in (".", "..") for p in parts) \
            or parts[0] == "zookeeper":
        raise ValueError(f"bad base path {path!r} (an absolute znode path below the root)")
    return "/" + "/".join(parts)


def _collapse(changes: Sequence[Change]) -> dict[tuple[str, str], Change]:
    """The last change of every key, validated before anything is written."""
    final: dict[tuple[str, str], Change] = {}
    for change in changes:
        if not isinstance(change, (Put, Delete)):
            raise StoreError(f"not a change: {change!r}")
        _check_namespace(change.namespace)
        limit = MAX_KEY_BYTES if isinstance(change, Put) else _MAX_OLD_KEY_BYTES
        if not isinstance(change.key, str) or len(_key_bytes(change.key)) > limit:
            raise StoreError(f"bad key in {change.namespace}: not a string of at most {limit} bytes")
        if isinstance(change, Put) and not isinstance(change.value, bytes):
            raise StoreError(f"value of {change.namespace}/{change.key} is not bytes")
        final.pop((change.namespace, change.key), None)
        final[(change.namespace, change.key)] = change
    return final


def _first_failure(results: Sequence[object]) -> tuple[int, Exception] | None:
    for index, result in enumerate(results):
        if isinstance(result, Exception) and not isinstance(result, (RolledBackError, RuntimeInconsistency)):
            return index, result
    if any(isinstance(result, Exception) for result in results):
        return 0, RuntimeInconsistency()
    return None


def _result(item: object) -> object:
    if isinstance(item, NoNodeError):
        return None
    if isinstance(item, Exception):
        raise item
    return item


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}{f': {exc}' if str(exc) else ''}"


def _started_client(hosts: str, timeout: float) -> KazooClient:
    client = KazooClient(hosts=hosts, timeout=timeout)
    try:
        client.start(timeout=timeout)
    except (KazooException, client.handler.timeout_exception) as exc:
        _stop_client(client)
        raise StoreError(f"cannot connect to ZooKeeper at {hosts}: {_describe(exc)}") from exc
    return client


def _stop_client(client: KazooClient) -> None:
    try:
        client.stop()
    finally:
        client.close()


def _ensure_chroot(servers: str, chroot: str, timeout: float) -> None:
    client = _started_client(servers, timeout)
    try:
        client.ensure_path_async(chroot).get(timeout=timeout)
    except (KazooException, client.handler.timeout_exception) as exc:
        raise StoreError(f"cannot create the chroot {chroot} on {servers}: {_describe(exc)}") from exc
    finally:
        _stop_client(client)
