"""Backoff arithmetic and resets, the launch queue view, revive vs suppress, and the task environment."""

from __future__ import annotations

import pytest

from mesospaas.launch import (
    OfferInterestState,
    after_failure,
    after_stable_run,
    backoff_delay,
    current,
    decide_offer_interest,
    is_delayed,
    is_launch_failure,
    launch_queue,
    task_environment,
)
from mesospaas.launch.environment import env_name, java_double
from mesospaas.model import Condition, Goal, Snapshot, TaskId
from tests.core.builders import an_app, an_instance

# -- backoff ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 100.0), (50, 100.0), (10**6, 100.0)],
)
def test_delay_grows_by_the_factor_and_is_capped(failures: int, delay: float) -> None:
    app = an_app("/web").backoff(10, 2, 100).build()
    assert backoff_delay(app, failures) == pytest.approx(delay)


def test_marathons_defaults_give_1s_then_15_percent_more_each_time() -> None:
    app = an_app("/web").build()
    assert [round(backoff_delay(app, n), 4) for n in (1, 2, 3)] == [1.0, 1.15, 1.3225]


def test_failures_accumulate_and_delay_the_next_launch() -> None:
    app = an_app("/web").backoff(10, 2, 300).build()
    first = after_failure(None, app, now=100)
    second = after_failure(first, app, now=115)
    assert (second.failures, second.delay, second.launch_allowed_at) == (2, 20.0, 135.0)
    assert is_delayed(second, app, now=130)
    assert not is_delayed(second, app, now=135)


def test_a_config_change_resets_the_backoff() -> None:
    app = an_app("/web").backoff(10, 2, 300).version("v1").build()
    backoff = after_failure(after_failure(None, app, now=0), app, now=1)
    changed = an_app("/web").backoff(10, 2, 300).version("v2").build()
    assert current(backoff, changed, now=2) is None
    assert after_failure(backoff, changed, now=2).failures == 1


def test_an_overdue_backoff_is_forgotten() -> None:
    app = an_app("/web").backoff(10, 2, 300).build()
    backoff = after_failure(None, app, now=0)
    assert current(backoff, app, now=300) is backoff
    assert current(backoff, app, now=301) is None


def test_running_for_a_while_resets_the_backoff() -> None:
    app = an_app("/web").backoff(10, 2, 300).build()
    backoff = after_failure(None, app, now=0)
    assert after_stable_run(backoff, app, running_since=20, now=50) is backoff
    assert after_stable_run(backoff, app, running_since=20, now=80) is None
    assert after_stable_run(backoff, app, running_since=20, now=30, stable_after=10) is None


@pytest.mark.parametrize(
    ("condition", "failure"),
    [(Condition.FAILED, True), (Condition.FINISHED, True), (Condition.ERROR, True), (Condition.KILLED, False)],
)
def test_what_counts_as_a_launch_failure(condition: Condition, failure: bool) -> None:
    assert is_launch_failure(condition) is failure


# -- launch queue -------------------------------------------------------------------------------------------


def test_the_launch_queue_is_a_view_over_instances_minus_apps_in_backoff() -> None:
    web = an_app("/web").build()
    batch = an_app("/batch").role("batch").backoff(10, 2, 300).build()
    waiting = an_instance(web).condition(Condition.SCHEDULED, since=5).build()
    failed = an_instance(web).on("h1").failed(since=3).build()
    running = an_instance(web).on("h1").running().build()
    stopped = an_instance(web).goal(Goal.STOPPED).build()
    delayed = an_instance(batch).condition(Condition.SCHEDULED, since=1).build()
    snapshot = Snapshot.of([web, batch], [waiting, failed, running, stopped, delayed])
    queue = launch_queue(snapshot, {batch.id: after_failure(None, batch, now=0)}, now=5)
    assert queue.pending == (failed, waiting)
    assert [e.app_id for e in queue.delayed] == [batch.id]
    assert queue.next_wake_up == 10
    assert queue.wanted_roles == frozenset({"*"})
    later = launch_queue(snapshot, {batch.id: after_failure(None, batch, now=0)}, now=11)
    assert later.pending == (delayed, failed, waiting)


# -- revive vs suppress -------------------------------------------------------------------------------------


def test_new_demand_revives_its_role_and_no_demand_suppresses_it() -> None:
    web = an_app("/web").build()
    first = an_instance(web).build()
    roles = frozenset({"*", "batch"})
    queue = launch_queue(Snapshot.of([web], [first]), {}, now=0)
    subscribed = OfferInterestState(wanted_roles=roles)
    decision = decide_offer_interest(queue, subscribed, roles)
    assert decision.revive == {"*"} and decision.suppress == {"batch"}
    again = decide_offer_interest(queue, decision.state, roles)
    assert again.changes_nothing
    second = an_instance(web).build()
    more = decide_offer_interest(launch_queue(Snapshot.of([web], [first, second]), {}, now=0), again.state, roles)
    assert more.revive == {"*"} and more.suppress == frozenset()
    empty = decide_offer_interest(launch_queue(Snapshot.of([web], []), {}, now=0), more.state, roles)
    assert empty.revive == frozenset() and empty.suppress == {"*"}


def test_demand_coming_out_of_backoff_revives() -> None:
    web = an_app("/web").backoff(10, 2, 300).build()
    snapshot = Snapshot.of([web], [an_instance(web).build()])
    backoffs = {web.id: after_failure(None, web, now=0)}
    roles = frozenset({"*"})
    during = decide_offer_interest(launch_queue(snapshot, backoffs, now=5), OfferInterestState(roles), roles)
    assert during.revive == frozenset() and during.suppress == {"*"}
    after = decide_offer_interest(launch_queue(snapshot, backoffs, now=11), during.state, roles)
    assert after.revive == {"*"}


def test_roles_the_framework_does_not_hold_are_left_alone() -> None:
    app = an_app("/web").role("other").build()
    queue = launch_queue(Snapshot.of([app], [an_instance(app).build()]), {}, now=0)
    decision = decide_offer_interest(queue, OfferInterestState(), frozenset({"*"}))
    assert decision.changes_nothing


# -- task environment ---------------------------------------------------------------------------------------


def test_tasks_get_marathons_environment() -> None:
    app = (
        an_app("/shop/web")
        .version("2015-09-25T15:13:48.343Z")
        .cpus(0.5)
        .mem(256)
        .named_ports(http=10000, admin=0)
        .labels(HAPROXY_GROUP="external", **{"team-name": "shop"})
        .docker("nginx:1.19")
        .env(EXTRA="1", HOST="override")
        .build()
    )
    env = task_environment(app, TaskId("shop_web.instance-1._app.1"), "node1", [31000, 31001])
    assert env == {
        "HOST": "override",
        "PORT0": "31000",
        "PORT1": "31001",
        "PORT": "31000",
        "PORTS": "31000,31001",
        "PORT_10000": "31000",
        "PORT_HTTP": "31000",
        "PORT_ADMIN": "31001",
        "MARATHON_APP_ID": "/shop/web",
        "MARATHON_APP_VERSION": "2015-09-25T15:13:48.343Z",
        "MARATHON_APP_DOCKER_IMAGE": "nginx:1.19",
        "MARATHON_APP_RESOURCE_CPUS": "0.5",
        "MARATHON_APP_RESOURCE_MEM": "256.0",
        "MARATHON_APP_RESOURCE_DISK": "0.0",
        "MARATHON_APP_RESOURCE_GPUS": "0",
        "MARATHON_APP_LABELS": "HAPROXY_GROUP TEAM_NAME",
        "MARATHON_APP_LABEL_HAPROXY_GROUP": "external",
        "MARATHON_APP_LABEL_TEAM_NAME": "shop",
        "MESOS_TASK_ID": "shop_web.instance-1._app.1",
        "EXTRA": "1",
    }


def test_no_docker_image_variable_without_docker_and_no_port_variables_without_ports() -> None:
    env = task_environment(an_app("/web").no_ports().build(), TaskId("t"), "h", [])
    assert "MARATHON_APP_DOCKER_IMAGE" not in env and "PORT" not in env and "PORTS" not in env
    assert env["MARATHON_APP_LABELS"] == ""


def test_the_environment_needs_one_host_port_per_port_definition() -> None:
    with pytest.raises(ValueError):
        task_environment(an_app("/web").ports(0, 0).build(), TaskId("t"), "h", [31000])


@pytest.mark.parametrize(("number", "text"), [(1.0, "1.0"), (0.5, "0.5"), (128.0, "128.0"), (0.0001, "1.0E-4")])
def test_resources_are_formatted_like_java_doubles(number: float, text: str) -> None:
    assert java_double(number) == text


def test_env_names_are_upper_case_with_underscores() -> None:
    assert env_name("my-label.x") == "MY_LABEL_X"
