"""Where the scheduler's state lives: one ``Store`` interface, a local-directory implementation (embedded
default) and a ZooKeeper implementation (highly available schedulers). Codecs (core types <-> bytes) live in
``scheduler.codecs``, not here."""

from scheduler.store.base import Change, Delete, Put, Store, StoreConflict, StoreError, StoreFenced, StoreLocked
from scheduler.store.local_dir import LocalDirectoryStore
from scheduler.store.zookeeper import ZooKeeperStore

__all__ = ["Change", "Delete", "LocalDirectoryStore", "Put", "Store", "StoreConflict", "StoreError", "StoreFenced",
           "StoreLocked", "ZooKeeperStore"]
