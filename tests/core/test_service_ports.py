"""Service port assignment (Marathon's --local_port_min/max): 0 means "assign one", unique across apps, kept."""

from __future__ import annotations

import json

import pytest

from mesospaas.routing.service_ports import (PortRange, ServicePortIndex, ServicePortRejected, assign_service_ports,
                                             assign_with_index, service_ports, with_service_ports)
from tests.core.builders import an_app


def host(*ports: int) -> dict:  # type: ignore[type-arg]
    return {"portDefinitions": [{"port": p, "protocol": "tcp"} for p in ports]}


def bridge(*ports: int) -> dict:  # type: ignore[type-arg]
    return {"container": {"type": "DOCKER", "portMappings": [{"containerPort": 80, "servicePort": p} for p in ports]}}


def test_zero_ports_get_unique_ports_from_the_range_in_app_order() -> None:
    out = assign_service_ports({}, {"/a": host(0, 0), "/b": bridge(0)}, PortRange(10000, 20000))
    assert not isinstance(out, ServicePortRejected)
    assert service_ports(out["/a"]) == [10000, 10001]
    assert service_ports(out["/b"]) == [10002]
    assert out["/b"]["container"]["portMappings"][0]["containerPort"] == 80


def test_explicit_ports_are_kept_and_skipped_by_assignment() -> None:
    out = assign_service_ports({"/old": host(10000)}, {"/new": host(0, 10001, 0)}, PortRange(10000, 10010))
    assert not isinstance(out, ServicePortRejected)
    assert service_ports(out["/new"]) == [10002, 10001, 10003]
    outside = assign_service_ports({}, {"/x": host(80)}, PortRange(10000, 10010))
    assert not isinstance(outside, ServicePortRejected) and service_ports(outside["/x"]) == [80]


def test_an_update_with_port_zero_keeps_the_ports_it_had() -> None:
    out = assign_service_ports({"/a": host(10005, 10007), "/b": host(10000)}, {"/a": host(0, 0)},
                               PortRange(10000, 20000))
    assert not isinstance(out, ServicePortRejected)
    assert service_ports(out["/a"]) == [10005, 10007]


def test_a_clash_with_another_apps_port_is_rejected_with_marathons_message() -> None:
    out = assign_service_ports({"/app2": host(3200)}, {"/app1": host(3200)})
    assert out == ServicePortRejected("Requested service port 3200 conflicts with a service port in app /app2")
    between = assign_service_ports({}, {"/a": host(4000), "/b": host(4000)})
    assert between == ServicePortRejected("Requested service port 4000 conflicts with a service port in app /a")


def test_an_exhausted_range_is_rejected() -> None:
    out = assign_service_ports({"/a": host(10000, 10001)}, {"/b": host(0)}, PortRange(10000, 10002))
    assert out == ServicePortRejected("All service ports in [10000, 10002) are in use")


def test_invalid_ranges_are_refused() -> None:
    with pytest.raises(ValueError):
        PortRange(20000, 10000)


def test_with_service_ports_writes_definitions_and_specs_so_requirePorts_hosts_use_them() -> None:
    from mesospaas.model.group import Group
    spec = an_app("/web").build()
    root = Group.of([spec])
    definition = {"id": "/web", "portDefinitions": [{"port": 0, "name": "default", "protocol": "tcp"}]}
    result = with_service_ports(root, {spec.id: json.dumps(definition).encode()}, ServicePortIndex(),
                                PortRange(15000, 16000))
    assert not isinstance(result, ServicePortRejected)
    target, definitions = result
    assert json.loads(definitions[spec.id])["portDefinitions"][0]["port"] == 15000
    app = target.app("/web")
    assert app is not None and [p.port for p in app.port_definitions] == [15000]


def test_the_index_moves_with_the_stored_apps_and_answers_as_a_sorted_scan_would() -> None:
    index = ServicePortIndex.of({"/b": host(10000), "/a": host(10000, 10001), "/c": host(10002)})
    assert index.owner(10000, ignored=()) == "/a"  # held twice (inconsistent store): the smallest id owns it
    assert index.owner(10000, ignored={"/a"}) == "/b"
    assert index.owner(10002, ignored=(), gone={"/c"}) is None
    index.put("/a", [10005])
    assert index.owner(10001, ignored=()) is None and index.ports_of("/a") == (10005,)
    index.drop("/b")
    assert index.owner(10000, ignored=()) is None and index.ports_of("/b") == ()
    ranges = PortRange(10000, 10010)
    via_index = assign_with_index(index, {"/n": host(0, 0)}, ranges)
    via_scan = assign_service_ports({"/a": host(10005), "/c": host(10002)}, {"/n": host(0, 0)}, ranges)
    assert not isinstance(via_index, ServicePortRejected) and not isinstance(via_scan, ServicePortRejected)
    assert service_ports(via_index["/n"]) == service_ports(via_scan["/n"]) == [10000, 10001]


def test_ports_of_apps_the_change_removes_are_free_for_it() -> None:
    index = ServicePortIndex.of({"/old": host(10000)})
    taken = assign_with_index(index, {"/new": host(10000)}, PortRange(10000, 10010))
    assert isinstance(taken, ServicePortRejected) and "in app /old" in taken.message
    freed = assign_with_index(index, {"/new": host(10000), "/other": host(0)}, PortRange(10000, 10010), gone={"/old"})
    assert not isinstance(freed, ServicePortRejected)
    assert service_ports(freed["/new"]) == [10000] and service_ports(freed["/other"]) == [10001]
