"""The lowest free service port is found a word of the index at a time (issue 11: an assignment must not
try every held port of the range), with exactly the answers of the port-by-port scan it replaced (kept here
as ``reference_assign``), over random stored apps, incoming apps and removed apps."""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.routing.service_ports import PortRange, ServicePortIndex, ServicePortRejected, assign_with_index, \
    service_ports
from tests.core.test_service_ports import bridge, host

LOW, HIGH = 10000, 10000 + 3 * 4096  # a few areas of 4,096 ports, so whole words and areas fill up


def reference_assign(stored: ServicePortIndex, incoming: Mapping[str, Mapping[str, Any]], ports: PortRange,
                     gone: Collection[str] = ()) -> dict[str, list[int]] | ServicePortRejected:
    """``assign_with_index`` as it was (the service ports it gives each app): the cursor tries port after port."""
    assigned_here: dict[int, str] = {}

    def holder_of(port: int) -> str | None:
        mine = assigned_here.get(port)
        return mine if mine is not None else stored.owner(port, incoming, gone)

    for app_id in sorted(incoming):
        for port in service_ports(incoming[app_id]):
            if port:
                holder = holder_of(port)
                if holder is not None and holder != app_id:
                    return ServicePortRejected(
                        f"Requested service port {port} conflicts with a service port in app {holder}")
                assigned_here.setdefault(port, app_id)
    out: dict[str, list[int]] = {}
    cursor = ports.low
    for app_id in sorted(incoming):
        wanted = service_ports(incoming[app_id])
        previous = stored.ports_of(app_id)
        assigned: list[int] = []
        for position, port in enumerate(wanted):
            if port == 0:
                reuse = previous[position] if position < len(previous) else 0
                if reuse and holder_of(reuse) is None:
                    port = reuse
                else:
                    while cursor < ports.high and holder_of(cursor) is not None:
                        cursor += 1
                    if cursor >= ports.high:
                        return ServicePortRejected(f"All service ports in [{ports.low}, {ports.high}) are in use")
                    port = cursor
                assigned_here[port] = app_id
            assigned.append(port)
        out[app_id] = assigned
    return out


blocks = st.lists(st.tuples(st.integers(LOW - 100, HIGH + 100), st.integers(0, 4200)), max_size=6)
"""Runs of held ports: (first port, length)."""


def index_of(runs: list[tuple[int, int]], holes: list[int], owners: int) -> tuple[ServicePortIndex, list[str]]:
    index, apps = ServicePortIndex(), []
    held = sorted({p for first, length in runs for p in range(first, first + length)} - set(holes))
    for n in range(owners):
        app_id = f"/app{n}"
        index.put(app_id, held[n::owners])
        apps.append(app_id)
    return index, apps


@settings(max_examples=200, deadline=None)
@given(blocks, st.lists(st.integers(LOW, HIGH), max_size=20), st.integers(1, 5), st.integers(0, 3),
       st.integers(LOW - 50, HIGH), st.integers(0, 70) | st.integers(0, HIGH - LOW + 200))
def test_the_lowest_free_port_is_the_first_a_scan_finds(runs: list[tuple[int, int]], holes: list[int], owners: int,
                                                        freed: int, start: int, span: int) -> None:
    index, apps = index_of(runs, holes, owners)
    ignored, gone = apps[:freed][:1], apps[1:freed]
    if apps:
        index.drop(apps[-1])  # the masks move back as ports are released
    high = start + span
    scan = next((p for p in range(start, high) if index.owner(p, ignored, gone) is None), None)
    assert index.lowest_free(start, high, ignored, gone) == scan


@settings(max_examples=200, deadline=None)
@given(blocks, st.lists(st.integers(LOW, HIGH), max_size=20), st.integers(1, 4), st.integers(0, 2),
       st.lists(st.lists(st.sampled_from([0, 0, 0, LOW, LOW + 64, HIGH - 1]), max_size=4), min_size=1, max_size=4),
       st.booleans())
def test_assignments_are_those_of_the_port_by_port_scan(runs: list[tuple[int, int]], holes: list[int], owners: int,
                                                        gone_count: int, wanted: list[list[int]], docker: bool) -> None:
    index, apps = index_of(runs, holes, owners)
    incoming = {f"/new{n}" if n else apps[0]: (bridge if docker else host)(*ports) for n, ports in enumerate(wanted)}
    before = copy.deepcopy(incoming)
    gone = apps[1:1 + gone_count]
    ports = PortRange(LOW, HIGH)
    made = assign_with_index(index, incoming, ports, gone)
    expected = reference_assign(index, incoming, ports, gone)
    assert incoming == before  # the definitions given are left as they were
    if isinstance(expected, ServicePortRejected):
        assert made == expected
        return
    assert not isinstance(made, ServicePortRejected)
    assert {a: service_ports(d) for a, d in made.items()} == expected
    for app_id, definition in made.items():  # only the ports changed
        assert {k: v for k, v in definition.items() if k not in ("portDefinitions", "container")} == \
            {k: v for k, v in incoming[app_id].items() if k not in ("portDefinitions", "container")}


def test_the_search_stops_at_the_end_of_the_range_and_skips_full_words_and_areas() -> None:
    index = ServicePortIndex()
    index.put("/a", range(LOW, LOW + 10))
    assert index.lowest_free(LOW, LOW + 5, ()) is None and index.lowest_free(LOW, LOW + 11, ()) == LOW + 10
    index.put("/b", range(4096, 3 * 4096 + 64))  # two whole areas and a word
    assert index.lowest_free(4096, 65536, ()) == 3 * 4096 + 64
    assert index.lowest_free(4096, 65536, {"/b"}) == 4096  # its own ports are free to an incoming app
    index.drop("/b")
    assert index.lowest_free(5000, 65536, ()) == 5000
