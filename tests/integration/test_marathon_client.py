"""The released marathon-python client (PyPI ``marathon`` 0.13.0) against our API, end to end.

The API is served on a real TCP port (aiohttp's ``TestServer`` on the test's loop) over the scheduler runtime
and a real localmesos cluster; the client's blocking calls run in worker threads (``asyncio.to_thread``) so the
loop keeps serving. The client is used as released: the only help it gets is the ``collections.Iterable``
alias (``marathon_compat``). It raises ``TypeError`` on any response key its models do not know, so every call
here that parses a model (apps, tasks, deployments, queue items, info, events) also checks that the API sends
only keys the client accepts.

Everything started here is stopped here: the server by its context manager, the client's HTTP sessions and any
event-stream response in ``finally``/fixture teardown.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestServer


from .marathon_compat import (
    MarathonApiPostEvent,
    MarathonApp,
    MarathonClient,
    MarathonGroup,
    MarathonStatusUpdateEvent,
    NotFoundError,
)


class RecordingSession(requests.Session):
    """A requests session that keeps the responses it opened, so the test can close a stream it abandons.

    The client takes it through its documented ``sse_session`` argument; it reads events with no timeout, so
    a connect/read timeout is set here too (the server writes a keep-alive every 10 s).
    """

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[requests.Response] = []
        self._lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", (5, 30))
        response = super().request(*args, **kwargs)
        with self._lock:
            self.responses.append(response)
        return response

    def close(self) -> None:
        with self._lock:
            for response in self.responses:
                response.close()
        super().close()


class Client:
    """The real ``MarathonClient`` bound to a served API; ``await client.call(name, ...)`` runs it in a thread."""

    def __init__(self, url: str) -> None:
        self.events_session = RecordingSession()
        self.marathon = MarathonClient(url, timeout=10, sse_session=self.events_session)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.marathon, method), *args, **kwargs)

    async def until(self, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Polls ``check`` (blocking client calls) in a thread until it returns something truthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = await asyncio.to_thread(check)
            if last:
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")

    def close(self) -> None:
        self.marathon.session.close()
        self.events_session.close()


@pytest.fixture
def client(served: TestServer) -> Iterator[Client]:
    bound = Client(str(served.make_url("")).rstrip("/"))
    yield bound
    bound.close()


def sleeper(instances: int = 1, cmd: str = "sleep 600", **extra: Any) -> MarathonApp:
    return MarathonApp(cmd=cmd, cpus=0.1, mem=32, instances=instances, **extra)


def is_utc(value: Any) -> bool:
    return isinstance(value, datetime.datetime) and value.tzinfo == datetime.timezone.utc


async def test_server_info_and_ping(client: Client) -> None:
    info = await client.call("get_info")
    assert info.name == "mesospaas" and info.elected is True and info.leader
    assert info.marathon_config.master and info.http_config is not None
    assert (await client.call("ping")) == b'"pong"'  # the client only accepts JSON
    assert (await client.call("get_leader"))["leader"] == info.leader


async def test_app_lifecycle(client: Client) -> None:
    m = client.marathon
    created = await client.call("create_app", "shop/web", sleeper(2, labels={"tier": "web"}))
    assert isinstance(created, MarathonApp)  # a 201, parsed with the client's strict model
    assert created.id == "/shop/web" and created.instances == 2 and created.deployments
    assert created.labels == {"tier": "web"} and created.tasks_running == 0

    # Listing with every embed the client can ask for; each app parses strictly.
    app = await client.until(lambda: next((a for a in m.list_apps(embed_tasks=True, embed_counts=True,
                                                                   embed_deployments=True, embed_readiness=True,
                                                                   embed_last_task_failure=True,
                                                                   embed_failures=True, embed_task_stats=True)
                                           if a.tasks_running == 2 and not a.deployments), None))
    assert app.id == "/shop/web" and len(app.tasks) == 2
    assert [a.id for a in await client.call("list_apps", cmd="sleep", app_id="web", label="tier==web")] == ["/shop/web"]
    assert await client.call("list_apps", label="tier==db") == []

    # A single GET embeds the tasks; their times parse as UTC datetimes.
    app = await client.call("get_app", "shop/web", embed_tasks=True)
    assert app.tasks_running == 2 and len(app.tasks) == 2
    task = app.tasks[0]
    assert task.app_id == "/shop/web" and task.state == "TASK_RUNNING" and task.host and task.slave_id
    assert is_utc(task.staged_at) and is_utc(task.started_at) and len(task.ports) == 1
    assert is_utc(app.version_info.last_scaling_at) and is_utc(app.version_info.last_config_change_at)
    assert {t.id for t in await client.call("list_tasks", "shop/web")} == {t.id for t in app.tasks}
    assert {t.id for t in await client.call("list_tasks")} >= {t.id for t in app.tasks}

    # Kill one task: it is replaced.
    victim = app.tasks[0].id
    killed = await client.call("kill_task", "shop/web", victim)
    assert killed.id == victim
    app = await client.until(lambda: (a := m.get_app("shop/web")).tasks_running == 2
                             and victim not in {t.id for t in a.tasks} and a)

    # Kill every task of the app: they are replaced.
    before = {t.id for t in app.tasks}
    killed_all = await client.call("kill_tasks", "shop/web")
    assert {t.id for t in killed_all} == before
    app = await client.until(lambda: (a := m.get_app("shop/web")).tasks_running == 2
                             and not before & {t.id for t in a.tasks} and a)

    # Update the definition: a restart onto the new version.
    before = {t.id for t in app.tasks}
    result = await client.call("update_app", "shop/web", MarathonApp(cmd="sleep 601"))
    assert set(result) == {"deploymentId", "version"}
    app = await client.until(lambda: (a := m.get_app("shop/web")).cmd == "sleep 601" and not a.deployments
                             and a.tasks_running == 2 and not before & {t.id for t in a.tasks} and a)
    assert {t.version for t in app.tasks} == {app.version}
    versions = await client.call("list_versions", "shop/web")
    assert len(versions) == 2 and app.version in versions
    old = await client.call("get_version", "shop/web", min(versions))
    assert isinstance(old, MarathonApp) and old.cmd == "sleep 600"

    # Restart: same definition, every task replaced.
    before = {t.id for t in app.tasks}
    result = await client.call("restart_app", "shop/web")
    assert result["deploymentId"]
    app = await client.until(lambda: (a := m.get_app("shop/web")).tasks_running == 2 and not a.deployments
                             and not before & {t.id for t in a.tasks} and a)
    assert app.cmd == "sleep 601"

    # Scale: to a number, then by a delta.
    result = await client.call("scale_app", "shop/web", instances=3)
    assert set(result) == {"deploymentId", "version"}
    await client.until(lambda: m.get_app("shop/web").tasks_running == 3)
    assert (await client.call("scale_app", "shop/web", delta=-1))["deploymentId"]
    app = await client.until(lambda: (a := m.get_app("shop/web")).tasks_running == 2 and not a.deployments and a)
    assert app.version_info.last_config_change_at < app.version_info.last_scaling_at  # scales are not config changes

    # Kill with scale=True: the app shrinks instead of replacing the task (one task, then all of them).
    victim = app.tasks[0].id
    result = await client.call("kill_task", "shop/web", victim, scale=True)
    assert set(result) == {"deploymentId", "version"}
    await client.until(lambda: (a := m.get_app("shop/web")).instances == 1 and a.tasks_running == 1
                       and victim not in {t.id for t in a.tasks} and not a.deployments)
    assert (await client.call("kill_tasks", "shop/web", scale=True))["deploymentId"]
    await client.until(lambda: (a := m.get_app("shop/web")).instances == 0 and not a.tasks and not a.deployments)

    # Kill a list of tasks by id (POST /v2/tasks/delete), scaling down.
    await client.call("scale_app", "shop/web", instances=2)
    app = await client.until(lambda: (a := m.get_app("shop/web")).tasks_running == 2 and not a.deployments and a)
    assert await client.call("kill_given_tasks", [app.tasks[0].id], scale=True) is True
    await client.until(lambda: (a := m.get_app("shop/web")).instances == 1 and a.tasks_running == 1
                       and len(a.tasks) == 1)

    # Delete.
    result = await client.call("delete_app", "shop/web")
    assert result["deploymentId"]
    await client.until(lambda: m.list_apps() == [] and m.list_tasks() == [])
    with pytest.raises(NotFoundError):
        await client.call("get_app", "shop/web")


async def test_a_task_killed_after_a_scale_is_replaced(client: Client) -> None:
    m = client.marathon
    await client.call("create_app", "scaled", sleeper(1))
    await client.until(lambda: m.get_app("scaled").tasks_running == 1)
    await client.call("scale_app", "scaled", instances=2)
    app = await client.until(lambda: (a := m.get_app("scaled")).tasks_running == 2 and not a.deployments and a)
    first = next(t for t in app.tasks if t.version != app.version)  # launched before the scale
    await client.call("kill_task", "scaled", first.id)
    await client.until(lambda: (a := m.get_app("scaled")).tasks_running == 2
                       and first.id not in {t.id for t in a.tasks})


async def test_deployments_list_and_cancel(client: Client) -> None:
    m = client.marathon
    # An app no agent can hold: its deployment stays running, and it waits in the queue.
    await client.call("create_app", "huge", MarathonApp(cmd="sleep 600", cpus=64, mem=32, instances=1))
    deployments = await client.call("list_deployments")
    assert len(deployments) == 1
    deployment = deployments[0]
    assert deployment.affected_apps == ["/huge"] and deployment.total_steps >= 1 and deployment.current_step >= 1
    assert [action.action for step in deployment.steps for action in step.actions] == [
        "StartApplication", "ScaleApplication"]  # Marathon's plan for a new app
    queued = await client.until(lambda: m.list_queue())
    assert queued[0].app.id == "/huge" and queued[0].count == 1 and queued[0].delay.overdue is True
    assert await client.call("list_queue", embed_last_unused_offers=True)
    with pytest.raises(NotFoundError):  # not backed off: nothing to reset
        await client.call("reset_delay", "huge")

    # Cancel without force: a rollback deployment (the app did not exist before: it is removed).
    rollback = await client.call("delete_deployment", deployment.id)
    assert rollback["deploymentId"] != deployment.id
    await client.until(lambda: m.list_deployments() == [] and m.list_apps() == [])

    # Cancel with force: the deployment just stops; the app stays as it was deployed so far.
    await client.call("create_app", "huge", MarathonApp(cmd="sleep 600", cpus=64, mem=32, instances=1))
    deployment = (await client.call("list_deployments"))[0]
    assert await client.call("delete_deployment", deployment.id, force=True) == {}
    await client.until(lambda: m.list_deployments() == [])
    assert [a.id for a in await client.call("list_apps")] == ["/huge"]
    with pytest.raises(NotFoundError):
        await client.call("delete_deployment", deployment.id)


async def test_event_stream_reports_api_posts_and_status_updates(client: Client) -> None:
    """``event_stream()`` with a server-side filter (the client raises on event types it does not know)."""
    attached = threading.Event()
    seen: list[Any] = []

    def consume() -> None:
        stream = client.marathon.event_stream(
            event_types=["event_stream_attached", "api_post_event", "status_update_event"])
        for event in stream:
            if event.event_type == "event_stream_attached":
                attached.set()
                continue
            seen.append(event)
            kinds = {type(e) for e in seen if getattr(e, "app_id", None) == "/evented"
                     or (isinstance(e, MarathonApiPostEvent) and e.app_definition["id"] == "/evented")}
            if kinds >= {MarathonApiPostEvent, MarathonStatusUpdateEvent}:
                return

    consumer = asyncio.ensure_future(asyncio.to_thread(consume))
    try:
        await asyncio.wait_for(asyncio.to_thread(attached.wait, 20), 25)
        assert attached.is_set(), "the event stream never attached"
        await client.call("create_app", "evented", sleeper())
        await asyncio.wait_for(asyncio.shield(consumer), 30)
    finally:
        client.events_session.close()  # unblocks the consumer if it is still reading
        await asyncio.gather(consumer, return_exceptions=True)
    post = next(e for e in seen if isinstance(e, MarathonApiPostEvent))
    assert post.uri == "/v2/apps" and post.app_definition["cmd"] == "sleep 600"
    statuses = [e for e in seen if isinstance(e, MarathonStatusUpdateEvent) and e.app_id == "/evented"]
    assert statuses and statuses[0].task_id and statuses[0].slave_id and statuses[0].host
    assert {e.task_status for e in statuses} <= {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"}
    assert all(is_utc_text(e.timestamp) for e in seen)


def is_utc_text(value: Any) -> bool:
    return isinstance(value, str) and value.endswith("Z")


async def test_groups(client: Client) -> None:
    m = client.marathon
    group = MarathonGroup(id="/shop", apps=[MarathonApp(id="/shop/api", cmd="sleep 600", cpus=0.1, mem=32,
                                                        instances=1)])
    assert (await client.call("create_group", group))["deploymentId"]
    await client.until(lambda: m.get_app("shop/api").tasks_running == 1)
    fetched = await client.call("get_group", "shop")
    assert fetched.id == "/shop" and [a.id for a in fetched.apps] == ["/shop/api"]
    assert "/shop" in {g.id for g in await client.call("list_groups")}
    # The client's rollback (PUT /v2/groups/{id}/versions/{v}); only the current group version is kept.
    assert "deploymentId" in await client.call("rollback_group", "shop", fetched.version)
    assert (await client.call("scale_group", "shop", 2))["deploymentId"]
    await client.until(lambda: m.get_app("shop/api").tasks_running == 2)
    updated = MarathonGroup(id="/shop", apps=[MarathonApp(id="/shop/api", cmd="sleep 602", cpus=0.1, mem=32,
                                                          instances=1)])
    assert (await client.call("update_group", "shop", updated))["deploymentId"]
    await client.until(lambda: (a := m.get_app("shop/api")).cmd == "sleep 602" and a.tasks_running == 1
                       and not a.deployments)
    assert (await client.call("delete_group", "shop"))["deploymentId"]
    await client.until(lambda: m.list_apps() == [])
    with pytest.raises(NotFoundError):
        await client.call("get_group", "shop")
