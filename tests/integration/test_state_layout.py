"""How the runtime lays its state out in the store: one record per app and per group, pruned deployments,
and the migration from the old whole-tree record."""

from __future__ import annotations

from dataclasses import replace

from mesospaas.model import AppId
from mesospaas.model.group import Group
from scheduler.codecs import decode, encode
from scheduler.runtime import RunningDeployment
from scheduler.store import LocalDirectoryStore, Put

from .conftest import RuntimeHandle, eventually, running, sleeper


async def test_apps_and_groups_are_stored_one_record_each(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start()
    for n in range(6):
        await runtime.put_app(sleeper(f"/team{n % 2}/svc{n}", 1))
    await eventually(lambda: all(running(runtime, f"/team{n % 2}/svc{n}") for n in range(6)), timeout=30)
    store = scheduler.store
    assert store is not None
    assert set(store.load("apps")) == {f"/team{n % 2}/svc{n}" for n in range(6)}
    assert set(store.load("groups")) == {"/", "/team0", "/team1"}
    # A rolling change of one app: the persisted deployment names that app alone, not the whole tree.
    changed = replace(runtime.state.apps[AppId("/team1/svc3")], cmd="sleep 601")
    deployment = await runtime.put_app(changed)
    raw = store.get("deployments", deployment.id)  # persisted before put_app returns; new tasks not up yet
    assert raw is not None
    stored = decode(RunningDeployment, raw)
    assert set(stored.plan.target.all_apps()) == {"/team1/svc3"}
    assert set(stored.plan.original.all_apps()) == {"/team1/svc3"}
    assert decode(type(changed), store.get("apps", "/team1/svc3") or b"").cmd == "sleep 601"
    await runtime.delete_app(AppId("/team0/svc0"))
    assert "/team0/svc0" not in store.load("apps")
    await scheduler.stop()
    runtime = await scheduler.start()
    assert set(runtime.state.apps) == {f"/team{n % 2}/svc{n}" for n in range(1, 6)}
    assert runtime.state.root.app("/team1/svc3").cmd == "sleep 601"  # type: ignore[union-attr]


async def test_the_old_whole_tree_record_is_migrated(scheduler: RuntimeHandle) -> None:
    old_root = Group.of([sleeper("/legacy/a", 1), sleeper("/legacy/b", 2)], group_dependencies={"/legacy": []})
    with LocalDirectoryStore(scheduler.state_dir) as store:
        store.commit([Put("groups", "root", encode(old_root))])
    runtime = await scheduler.start()
    assert runtime.state.root == old_root
    assert scheduler.store is not None and "root" not in scheduler.store.load("groups")
    assert set(scheduler.store.load("apps")) == {"/legacy/a", "/legacy/b"}
    await eventually(lambda: len(running(runtime, "/legacy/b")) == 2, timeout=30)


async def test_version_history_is_bounded_by_the_setting(scheduler: RuntimeHandle) -> None:
    runtime = await scheduler.start(max_app_versions=3)
    for n in range(5):
        spec = sleeper("/versioned", 0, cmd=f"sleep {600 + n}")
        await runtime.deploy(lambda root, spec=spec: root.update_app(spec), force=True,  # type: ignore[misc]
                             definitions={spec.id: f'{{"id": "/versioned", "n": {n}}}'.encode()})
    versions = runtime.app_versions(AppId("/versioned"))
    assert len(versions) == 3 and versions[0] == runtime.state.apps[AppId("/versioned")].version
    assert scheduler.store is not None
    stored = [k for k in scheduler.store.load("app_definitions") if k.startswith("/versioned@")]
    assert sorted(stored) == sorted(f"/versioned@{v}" for v in versions)
    assert runtime.app_definition(AppId("/versioned")) == b'{"id": "/versioned", "n": 4}'
