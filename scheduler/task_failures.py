"""``lastTaskFailure`` in the shell: which status updates record one, and how they are stored.

Owns the store namespace ``task_failures`` (one record per app, the latest failure, key = app id) and the
small pieces the runtime calls: ``failures_in(statuses)`` (pure over the core's
``mesospaas.model.task_failure.from_status``), ``puts`` and ``deletes`` for its commits, and ``load``.
The record is dropped when its app is removed. Fails: ``CodecError`` from ``load`` on unreadable data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mesospaas.model import AppId
from mesospaas.model.task_failure import TaskFailure
from scheduler.codecs import decode, encode
from scheduler.store import Change, Delete, Put, Store

TASK_FAILURES = "task_failures"


def load(store: Store) -> dict[AppId, TaskFailure]:
    out: dict[AppId, TaskFailure] = {}
    for raw in store.load(TASK_FAILURES).values():
        failure = decode(TaskFailure, raw)
        out[failure.app_id] = failure
    return out


def puts(failures: Mapping[AppId, TaskFailure]) -> list[Change]:
    return [Put(TASK_FAILURES, app_id, encode(failure)) for app_id, failure in failures.items()]


def deletes(app_ids: Iterable[AppId], known: Mapping[AppId, TaskFailure]) -> list[Change]:
    return [Delete(TASK_FAILURES, app_id) for app_id in sorted(app_ids) if app_id in known]
