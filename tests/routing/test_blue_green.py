"""zdd's pure decisions: the next colour's definition, how far to scale, and the lb's listeners from stats CSV."""

from __future__ import annotations

import pytest

from mesospaas.routing.blue_green import BlueGreenError, deployment_group_apps, listeners, new_colour, next_instances

DEFINITION = {"id": "/web", "instances": 3, "portDefinitions": [{"port": 10000}],
              "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_ALT_PORT": "10001",
                         "HAPROXY_GROUP": "external"}}


def test_the_first_colour_is_blue_on_the_original_port_at_full_size() -> None:
    blue = new_colour(DEFINITION, None, "2026-01-01T00:00:00.000Z", 1)
    assert blue["id"] == "/web-blue" and blue["instances"] == 3
    assert blue["portDefinitions"][0]["port"] == 10000
    assert blue["labels"]["HAPROXY_DEPLOYMENT_COLOUR"] == "blue"
    assert blue["labels"]["HAPROXY_0_PORT"] == "10000" and blue["labels"]["HAPROXY_APP_ID"] == "/web"


def test_the_next_colour_alternates_colour_and_port_and_starts_small() -> None:
    blue = new_colour(DEFINITION, None, "2026-01-01T00:00:00.000Z", 1)
    green = new_colour(DEFINITION, blue, "2026-01-02T00:00:00.000Z", 1)
    assert green["id"] == "/web-green" and green["instances"] == 1
    assert green["portDefinitions"][0]["port"] == 10001 and green["labels"]["HAPROXY_0_PORT"] == "10000"
    assert green["labels"]["HAPROXY_DEPLOYMENT_TARGET_INSTANCES"] == "3"
    again = new_colour(DEFINITION, green, "2026-01-03T00:00:00.000Z", 1)
    assert again["id"] == "/web-blue" and again["portDefinitions"][0]["port"] == 10000


def test_labels_are_required() -> None:
    with pytest.raises(BlueGreenError):
        deployment_group_apps({"id": "/x", "labels": {}}, [])


def test_scaling_grows_by_half_or_linearly_and_stops_at_the_target() -> None:
    assert [next_instances(n, 10, 1, False) for n in (1, 2, 3, 5, 8)] == [2, 3, 5, 8, 10]
    assert [next_instances(n, 4, 2, True) for n in (1, 3)] == [3, 4]


def test_listeners_come_from_haproxy_stats_without_spare_slots() -> None:
    csv = ("# pxname,svname,qcur,qmax,scur,smax,status,addr\n"
           "web_10000,FRONTEND,,,0,0,OPEN,\n"
           "web_10000,a,0,0,0,1,MAINT,10.0.0.1:31000\n"
           "web_10000,b,0,0,2,3,UP,10.0.0.2:31001\n"
           "web_10000,slot1,0,0,0,0,MAINT,127.0.0.1:1\n"
           "other_1,c,0,0,0,0,UP,10.0.0.3:1\n"
           "web_10000,BACKEND,0,0,2,3,UP,\n")
    found = listeners(csv, "web_10000")
    assert [(s.name, s.address, s.status, s.sessions) for s in found] == [
        ("a", "10.0.0.1:31000", "MAINT", 0), ("b", "10.0.0.2:31001", "UP", 2)]
