"""``InstanceTable`` keeps its index by app in step with every dict mutation (scheduler/instance_table.py).

The model is a plain dict: after any sequence of mutations the table equals it, and each app's ``of_app``
holds exactly the dict's instances of that app, in the dict's order.
"""

from __future__ import annotations

import pickle
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.model.condition import Condition
from mesospaas.model.ids import AppId, AppVersion, InstanceId
from mesospaas.model.instance import Goal, Instance
from scheduler.instance_table import InstanceTable

APPS = [AppId("/a"), AppId("/b"), AppId("/shop/c")]
KEYS = [InstanceId(f"i{n}") for n in range(6)]


def instance(key: InstanceId, app: AppId, incarnation: int = 0) -> Instance:
    """Incarnation 0 is waiting for a launch; 1 runs; 2 is being stopped; 3 ended (launchable again)."""
    condition = {0: Condition.SCHEDULED, 1: Condition.RUNNING, 2: Condition.RUNNING, 3: Condition.FAILED}[incarnation]
    return Instance(id=key, app_id=app, app_version=AppVersion("2026-01-01T00:00:00.000Z"),
                    incarnation=incarnation, condition=condition, goal=Goal.STOPPED if incarnation == 2 else Goal.RUNNING)


def assert_in_step(table: InstanceTable, model: dict[InstanceId, Instance]) -> None:
    for app in APPS:
        assert table.tuple_of(app) == tuple(i for i in model.values() if i.app_id == app)
    assert dict(table) == model
    assert list(table) == list(model)
    for app in APPS:
        assert list(table.of_app(app).items()) == [(k, i) for k, i in model.items() if i.app_id == app]
    assert set(table.apps()) == {i.app_id for i in model.values()}
    assert table.launchable_apps() == {i.app_id for i in model.values() if i.is_launchable}


key_st = st.sampled_from(KEYS)
app_st = st.sampled_from(APPS)
operation = st.one_of(
    st.tuples(st.just("set"), key_st, app_st, st.integers(0, 3)),
    st.tuples(st.just("update"), st.lists(st.tuples(key_st, app_st, st.integers(0, 3)), max_size=4)),
    st.tuples(st.just("pop"), key_st),
    st.tuples(st.just("del"), key_st),
    st.tuples(st.just("setdefault"), key_st, app_st),
    st.tuples(st.just("popitem")),
    st.tuples(st.just("clear")),
    st.tuples(st.just("ior"), st.lists(st.tuples(key_st, app_st), max_size=3)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=30))
def test_every_mutation_keeps_the_index(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    table, model = InstanceTable(), {}
    for op in ops:
        before = {a: (table.stamp_of(a), table.tuple_of(a)) for a in APPS}
        kind = op[0]
        if kind == "set":
            value = instance(op[1], op[2], op[3])
            table[op[1]] = value
            model[op[1]] = value
        elif kind in ("update", "ior"):
            pairs = [(k, instance(k, *rest)) for k, *rest in op[1]]
            if kind == "update":
                table.update(pairs)
            else:
                table |= dict(pairs)
            model.update(pairs)
        elif kind == "pop":
            assert table.pop(op[1], None) == model.pop(op[1], None)
        elif kind == "del":
            if op[1] in model:
                del table[op[1]]
                del model[op[1]]
        elif kind == "setdefault":
            value = instance(op[1], op[2])
            assert table.setdefault(op[1], value) == model.setdefault(op[1], value)
        elif kind == "popitem":
            if model:
                assert table.popitem() == model.popitem()
        elif kind == "clear":
            table.clear()
            model.clear()
        assert_in_step(table, model)
        for app in APPS:  # an app whose instances changed has a new stamp; one whose did not keeps its tuple
            stamp, instances = before[app]
            if table.tuple_of(app) != instances:
                assert table.stamp_of(app) != stamp
            if table.stamp_of(app) == stamp:
                assert table.tuple_of(app) is instances


def test_an_instance_moved_to_another_app_leaves_the_old_index() -> None:
    table = InstanceTable({KEYS[0]: instance(KEYS[0], APPS[0])})
    table[KEYS[0]] = replace(table[KEYS[0]], app_id=APPS[1])
    assert dict(table.of_app(APPS[0])) == {}
    assert list(table.of_app(APPS[1])) == [KEYS[0]]


def test_built_from_a_mapping_copied_and_pickled_it_keeps_the_index() -> None:
    model = {k: instance(k, APPS[n % 2]) for n, k in enumerate(KEYS)}
    table = InstanceTable(model)
    for other in (table.copy(), pickle.loads(pickle.dumps(table))):
        assert isinstance(other, InstanceTable)
        assert_in_step(other, model)
    assert table.pop(InstanceId("missing"), "absent") == "absent"
    try:
        table.pop(InstanceId("missing"))
    except KeyError:
        pass
    else:
        raise AssertionError("pop of a missing key without a default must raise KeyError")
