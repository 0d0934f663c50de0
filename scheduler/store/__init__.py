"""Where the scheduler's state lives: one ``Store`` interface, a local-directory implementation (embedded
default) and, later, ZooKeeper. Codecs (core types <-> bytes) live in ``scheduler.codecs``, not here."""

from scheduler.store.base import Change, Delete, Put, Store, StoreError, StoreLocked
from scheduler.store.local_dir import LocalDirectoryStore

__all__ = ["Change", "Delete", "LocalDirectoryStore", "Put", "Store", "StoreError", "StoreLocked"]
