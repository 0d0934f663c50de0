"""The mesospaas executor end to end: apps on ``executor: "//mesospaas"`` on a localmesos cluster (process mode),
real task processes, the real scheduler runtime and API.

What a test cannot wait for in real time is shortened through the app (health check intervals, log sizes,
usage interval in labels) or the executor's flags (``--executor-env``), never by reaching into the executor.
No durations are asserted: the grace period shows in what the task saw (SIGTERM first) and how it ended
(SIGKILL), in that order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from executor import process_tree
from mesospaas.model import Instance
from mesospaas.model.app import CustomExecutor, HealthCheckSpec
from mesospaas.model.ids import TaskId
from scheduler.executor_info import ExecutorSettings
from scheduler.runtime import SchedulerRuntime
from tests.integration.conftest import RuntimeHandle, running, sleeper
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import eventually

pytestmark = pytest.mark.slow
OURS = CustomExecutor("//mesospaas")
PYTHON = sys.executable
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def sandbox_of(mesos: ThreadedCluster, runtime: SchedulerRuntime, task_id: str) -> Path | None:
    framework_id = runtime.state.framework_id

    def find() -> Path | None:
        for agent in mesos.cluster.agents:
            container = agent.containers.get((framework_id, task_id))
            if container is not None:
                return Path(container.sandbox)
        return None
    return mesos.run(find)


def executor_pid(mesos: ThreadedCluster, runtime: SchedulerRuntime, task_id: str) -> int | None:
    framework_id = runtime.state.framework_id

    def find() -> int | None:
        for agent in mesos.cluster.agents:
            container = agent.containers.get((framework_id, task_id))
            if container is not None and container.process is not None:
                return int(container.process.pid)
        return None
    return mesos.run(find)


def stream_sizes(sandbox: Path, stream: str) -> dict[str, int]:
    """Sizes of the stream's files now (a file rotated away while listing is skipped)."""
    sizes = {}
    for path in sandbox.iterdir():
        if path.name.startswith(stream):
            try:
                sizes[path.name] = path.stat().st_size
            except FileNotFoundError:
                pass
    return sizes


def alive(pid: int) -> bool:
    stat = process_tree.read_stat(pid)
    return stat is not None and stat.state != "Z"


async def one_running(runtime: SchedulerRuntime, app: str) -> Instance:
    found = await eventually(lambda: running(runtime, app), 60, f"{app} running")
    return found[0]


def statuses(runtime: SchedulerRuntime) -> Any:
    return runtime.events.subscribe(["status_update_event"])


def drain(subscription: Any) -> list[dict[str, Any]]:
    out = []
    while not subscription.queue.empty():
        event = subscription.queue.get_nowait()
        if event is not None:
            out.append(event)
    return out


async def test_an_app_on_our_executor_runs_and_finishes_with_mesos_texts(scheduler: RuntimeHandle,
                                                                        mesos: ThreadedCluster) -> None:
    runtime = await scheduler.start()
    seen = statuses(runtime)
    await runtime.put_app(sleeper("/ours", cmd="echo hello from $MESOS_TASK_ID; exit 3", executor=OURS))
    events: list[dict[str, Any]] = []

    def failed() -> bool:
        events.extend(drain(seen))
        return any(e["taskStatus"] == "TASK_FAILED" for e in events)
    await eventually(failed, 60, "the first task failed")
    first_task = next(e["taskId"] for e in events if e["taskStatus"] == "TASK_FAILED")
    states = [e["taskStatus"] for e in events if e["taskId"] == first_task]
    assert states[:3] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    assert [e["message"] for e in events if e["taskStatus"] == "TASK_FAILED"][0] == "Command exited with status 3"


async def test_health_checked_locally_and_killed_after_failures(scheduler: RuntimeHandle,
                                                                mesos: ThreadedCluster) -> None:
    runtime = await scheduler.start()
    check = HealthCheckSpec(protocol="COMMAND", command="test -f healthy", grace_period_seconds=0.0,
                            interval_seconds=0.2, timeout_seconds=5.0, max_consecutive_failures=2, delay_seconds=0.0,
                            port_index=None)
    await runtime.put_app(sleeper("/checked", cmd="touch healthy; exec sleep 600", executor=OURS,
                                  health_checks=(check,)))
    first = await one_running(runtime, "/checked")
    await eventually(lambda: runtime.state.instances[first.id].healthy is True, 60, "healthy from the executor")
    assert first.task_id is not None
    sandbox = sandbox_of(mesos, runtime, str(first.task_id))
    assert sandbox is not None
    (sandbox / "healthy").unlink()
    await eventually(lambda: runtime.state.instances[first.id].healthy is False, 60, "unhealthy")
    # The executor kills the task itself after the failures; the scheduler launches the next incarnation.
    await eventually(lambda: runtime.state.instances[first.id].incarnation > first.incarnation, 60,
                     "a replacement task")
    log = (sandbox / "executor.log").read_text()
    assert "is unhealthy: COMMAND health check failed" in log


TRAP_TERM = (
    "echo $$ > pids; "
    "( trap '' TERM; exec sleep 600 ) & echo $! >> pids; "           # a child ignoring SIGTERM
    f"{PYTHON} -c \"import os,time; os.setsid(); open('pids','a').write(str(os.getpid())+chr(10)); "
    "time.sleep(600)\" & "                                              # a grandchild that left the session
    "trap 'echo got TERM' TERM; "
    "while true; do sleep 0.1; done"
)


async def test_kill_honours_the_grace_period_and_leaves_no_process(scheduler: RuntimeHandle,
                                                                    mesos: ThreadedCluster) -> None:
    runtime = await scheduler.start()
    seen = statuses(runtime)
    await runtime.put_app(sleeper("/stubborn", cmd=TRAP_TERM, executor=OURS, task_kill_grace_period_seconds=3.0))
    instance = await one_running(runtime, "/stubborn")
    task_id = str(instance.task_id)
    sandbox = sandbox_of(mesos, runtime, task_id)
    assert sandbox is not None
    pids = await eventually(lambda: [int(p) for p in (sandbox / "pids").read_text().split()]
                            if (sandbox / "pids").exists() and len((sandbox / "pids").read_text().split()) >= 3
                            else None, 30, "the task's pids")
    assert all(alive(p) for p in pids)
    executor = executor_pid(mesos, runtime, task_id)
    assert executor is not None
    await runtime.kill_tasks([TaskId(task_id)], scale=True, wipe=False)
    events: list[dict[str, Any]] = []

    def killed() -> bool:
        events.extend(e for e in drain(seen) if e["taskId"] == task_id)
        return any(e["taskStatus"] == "TASK_KILLED" for e in events)
    await eventually(killed, 60, "TASK_KILLED")
    states = [e["taskStatus"] for e in events]
    assert states.index("TASK_KILLING") < states.index("TASK_KILLED")
    # SIGTERM reached the task first (it trapped it and went on), SIGKILL ended it after the grace period.
    assert "got TERM" in (sandbox / "stdout").read_text()
    assert [e["message"] for e in events if e["taskStatus"] == "TASK_KILLED"] == \
        ["Command terminated with signal Killed"]
    await eventually(lambda: not any(alive(p) for p in pids), 30, "no process of the task left")
    await eventually(lambda: not alive(executor), 60, "the executor exited after its task")


async def test_a_chatty_task_stays_under_the_rotation_bound(scheduler: RuntimeHandle, mesos: ThreadedCluster) -> None:
    runtime = await scheduler.start()
    max_bytes, keep = 64 * 1024, 2
    chatty = (f"{PYTHON} -c \"import sys,time\n"
              "line=b'x'*1023+b'\\n'\n"
              "while True:\n"
              "    sys.stdout.buffer.write(line*1024); sys.stdout.flush(); time.sleep(0.05)\"")
    await runtime.put_app(sleeper("/chatty", cmd=chatty, executor=OURS,
                                  labels={"MESOSPAAS_LOG_MAX_BYTES": str(max_bytes),
                                          "MESOSPAAS_LOG_KEEP": str(keep)}))
    instance = await one_running(runtime, "/chatty")
    sandbox = sandbox_of(mesos, runtime, str(instance.task_id))
    assert sandbox is not None
    await eventually(lambda: (sandbox / f"stdout.{keep}").exists(), 60, "rotated files")
    written_before = 0
    for _ in range(20):  # while it keeps writing megabytes per second
        sizes = stream_sizes(sandbox, "stdout")
        assert set(sizes) <= {"stdout", "stdout.1", "stdout.2"}
        assert sum(sizes.values()) <= (keep + 1) * max_bytes
        assert all(size <= max_bytes for size in sizes.values())
        written_before = max(written_before, sum(sizes.values()))
        await asyncio.sleep(0.1)
    assert written_before > max_bytes


@pytest.fixture
async def api(scheduler: RuntimeHandle) -> Any:
    runtime = await scheduler.start()
    server = TestServer(build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address)),
                        host="127.0.0.1")
    async with server:
        yield runtime, server


async def test_usage_shows_on_the_task_stats(api: Any, mesos: ThreadedCluster) -> None:
    runtime, server = api
    busy = f"{PYTHON} -c \"import threading\nwhile True: pass\""
    await runtime.put_app(sleeper("/busy", cmd=busy, executor=OURS, cpus=0.5, mem=128.0,
                                  labels={"MESOSPAAS_USAGE_INTERVAL_SECONDS": "0.2"}))
    await runtime.put_app(sleeper("/plain", cmd="sleep 600"))
    ours = await one_running(runtime, "/busy")
    plain = await one_running(runtime, "/plain")
    async with aiohttp.ClientSession() as http:
        async def stats(task: str) -> dict[str, Any]:
            async with http.get(server.make_url(f"/v2/tasks/{task}/stats")) as response:
                assert response.status == 200
                return dict(await response.json())
        body = await until(lambda: stats(str(ours.task_id)),
                           lambda b: b["executor"] and b["executor"]["cpuShare"] is not None, "usage reports")
        usage = body["executor"]
        assert usage["taskId"] == str(ours.task_id) and usage["rssBytes"] > 0 and usage["threads"] >= 1
        assert usage["cpuShare"] > 0.05 and usage["cpuSeconds"] > 0  # a busy loop, even on a loaded machine
        assert body["agent"]["mem_rss_bytes"] > 0 and body["agent"]["cpus_user_time_secs"] >= 0
        # Any task: the agent's statistics, even on the command executor (no executor report there).
        other = await stats(str(plain.task_id))
        assert other["executor"] is None and other["agent"]["mem_rss_bytes"] > 0
        async with http.get(server.make_url("/v2/tasks/no-such-task/stats")) as response:
            assert response.status == 404
            assert (await response.json())["message"] == "Task 'no-such-task' does not exist"
        async with http.get(server.make_url("/v2/tasks/stats")) as response:
            assert str(ours.task_id) in [s["taskId"] for s in (await response.json())["stats"]]
        # Never a new key in Marathon's task JSON.
        async with http.get(server.make_url("/v2/tasks")) as response:
            task = next(t for t in (await response.json())["tasks"] if t["id"] == str(ours.task_id))
            assert "stats" not in task and "usage" not in task
        # Unless asked for: embed=tasks.stats (ours) adds the executor's latest report, null on //cmd.
        for path in ("/v2/tasks?embed=tasks.stats", "/v2/apps/busy/tasks?embed=tasks.stats"):
            async with http.get(server.make_url(path)) as response:
                task = next(t for t in (await response.json())["tasks"] if t["id"] == str(ours.task_id))
                assert task["stats"]["taskId"] == str(ours.task_id) and task["stats"]["rssBytes"] > 0
        async with http.get(server.make_url("/v2/apps/plain/tasks?embed=tasks.stats")) as response:
            (task,) = (await response.json())["tasks"]
            assert task["stats"] is None


async def test_the_agent_stopped_under_it_the_executor_exits(scheduler: RuntimeHandle,
                                                             mesos: ThreadedCluster) -> None:
    # The framework checkpoints: the executor waits MESOS_RECOVERY_TIMEOUT for the agent, shortened here.
    settings = ExecutorSettings(env=(("MESOSPAAS_EXECUTOR_RECOVERY_TIMEOUT", "1"),))
    runtime = await scheduler.start(executor=settings)
    await runtime.put_app(sleeper("/orphan", cmd="echo $$ > pids; sleep 600 & echo $! >> pids; wait",
                                  executor=OURS))
    instance = await one_running(runtime, "/orphan")
    task_id = str(instance.task_id)
    sandbox = sandbox_of(mesos, runtime, task_id)
    executor = executor_pid(mesos, runtime, task_id)
    assert sandbox is not None and executor is not None
    pids = await eventually(lambda: [int(p) for p in (sandbox / "pids").read_text().split()]
                            if (sandbox / "pids").exists() and len((sandbox / "pids").read_text().split()) >= 2
                            else None, 30, "the task's pids")
    agent = next(a for a in mesos.cluster.agents if a.id == instance.agent.agent_id)  # type: ignore[union-attr]
    mesos.call(agent.stop())
    await eventually(lambda: not alive(executor), 60, "the executor exited")
    assert not any(alive(p) for p in pids)
    assert "did not come back" in (sandbox / "executor.log").read_text()


async def until(fetch: Callable[[], Awaitable[T]], good: Callable[[T], Any], what: str, timeout: float = 60) -> T:
    """The first value of ``fetch()`` that is ``good``; polls without blocking the loop (servers run on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if good(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s; last: {value!r}")
        await asyncio.sleep(0.05)


async def test_an_agent_restart_within_the_recovery_timeout_keeps_the_task(scheduler: RuntimeHandle,
                                                                           mesos: ThreadedCluster) -> None:
    """The framework checkpoints: the executor re-subscribes to the restarted agent and its task runs on, still
    supervised (a kill afterwards goes through the new connection)."""
    runtime = await scheduler.start()
    seen = statuses(runtime)
    await runtime.put_app(sleeper("/durable", cmd="echo $$ > pid; exec sleep 600", executor=OURS))
    instance = await one_running(runtime, "/durable")
    task_id = str(instance.task_id)
    sandbox = sandbox_of(mesos, runtime, task_id)
    executor = executor_pid(mesos, runtime, task_id)
    assert sandbox is not None and executor is not None
    pid = await eventually(lambda: int((sandbox / "pid").read_text()) if (sandbox / "pid").exists()
                           and (sandbox / "pid").read_text().strip() else None, 30, "the task's pid")
    agent = next(a for a in mesos.cluster.agents if a.id == instance.agent.agent_id)  # type: ignore[union-attr]
    mesos.call(agent.stop())
    await eventually(lambda: "waiting" in (sandbox / "executor.log").read_text(), 30, "the executor noticed")
    mesos.call(agent.start())
    await eventually(lambda: "re-subscribed" in (sandbox / "executor.log").read_text(), 60, "re-subscribed")
    assert alive(executor) and alive(pid)
    drain(seen)
    await runtime.kill_tasks([TaskId(task_id)], scale=True, wipe=False)
    events: list[dict[str, Any]] = []

    def killed() -> bool:
        events.extend(e for e in drain(seen) if e["taskId"] == task_id)
        return any(e["taskStatus"] == "TASK_KILLED" for e in events)
    await eventually(killed, 60, "TASK_KILLED after the agent came back")
    await eventually(lambda: not alive(pid) and not alive(executor), 60, "task and executor gone")


async def test_the_executor_killed_outright_takes_its_task_along(scheduler: RuntimeHandle,
                                                                 mesos: ThreadedCluster) -> None:
    """SIGKILL leaves the executor no chance to clean up (an agent destroying its container, the OOM killer):
    the task's guard sees its parent die and ends the task's whole tree, setsid'd grandchildren included."""
    runtime = await scheduler.start()
    await runtime.put_app(sleeper("/doomed", cmd=TRAP_TERM, executor=OURS))
    instance = await one_running(runtime, "/doomed")
    task_id = str(instance.task_id)
    sandbox = sandbox_of(mesos, runtime, task_id)
    executor = executor_pid(mesos, runtime, task_id)
    assert sandbox is not None and executor is not None
    pids = await eventually(lambda: [int(p) for p in (sandbox / "pids").read_text().split()]
                            if (sandbox / "pids").exists() and len((sandbox / "pids").read_text().split()) >= 3
                            else None, 30, "the task's pids")
    os.kill(executor, signal.SIGKILL)
    await eventually(lambda: not any(alive(p) for p in pids), 30, "no process of the task left")


async def read_json(http: aiohttp.ClientSession, url: Any) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_logs_read_and_followed_through_the_api_and_the_cli(api: Any, mesos: ThreadedCluster) -> None:
    runtime, server = api
    talker = (f"{PYTHON} -u -c \"import sys,time\n"
              "for i in range(100000):\n"
              "    print('line %06d ' % i + 'y' * 200); print('err %d' % i, file=sys.stderr); time.sleep(0.002)\"")
    await runtime.put_app(sleeper("/talker", cmd=talker, executor=OURS,
                                  labels={"MESOSPAAS_LOG_MAX_BYTES": "65536", "MESOSPAAS_LOG_KEEP": "3"}))
    await runtime.put_app(sleeper("/plain", cmd="echo plain output; sleep 600"))
    ours = await one_running(runtime, "/talker")
    plain = await one_running(runtime, "/plain")
    base = f"/v2/tasks/{ours.task_id}/logs"
    async with aiohttp.ClientSession() as http:
        first = await until(lambda: read_json(http, server.make_url(f"{base}?stream=stdout&offset=0&length=30")),
                            lambda body: body["data"], "stdout written")
        assert first["data"].startswith("line 000000 ") and first["offset"] == 0 and len(first["data"]) == 30
        err = await until(lambda: read_json(http, server.make_url(f"{base}?stream=stderr&length=100")),
                          lambda body: "err " in body["data"], "stderr written")
        assert len(err["data"]) <= 100
        files = await until(lambda: read_json(http, server.make_url(f"{base}/files")),
                            lambda body: any(f["name"] == "stdout.1" for f in body["files"]), "a rotation")
        names = [f["name"] for f in files["files"]]
        assert "stdout" in names and "stdout.1" in names and "stderr" in names
        old = await read_json(http, server.make_url(f"{base}?stream=stdout&rotated=1&offset=0&length=12"))
        assert old["file"] == "stdout.1" and old["data"].startswith("line ")
        async with http.get(server.make_url(f"{base}?stream=stdout&offset=-5")) as response:
            assert response.status == 422
            assert (await response.json())["details"][0]["path"] == "/offset"
        async with http.get(server.make_url(f"{base}?stream=stdin")) as response:
            assert response.status == 422
        # Following: the stream goes on across rotations, line numbers strictly increasing, none lost in a file.
        async with http.get(server.make_url(f"{base}?stream=stdout&follow=true&length=0")) as response:
            assert response.status == 200
            text = ""
            while text.count("\n") < 2000:  # about 500 KB: several rotations of 64 KiB
                text += (await response.content.read(65536)).decode()
        numbers = [int(line.split()[1]) for line in text.splitlines()[1:-1]]
        assert len(numbers) > 1000
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # in order, none lost, none twice
        plain_logs = await read_json(http, server.make_url(f"/v2/tasks/{plain.task_id}/logs"))
        assert "plain output" in plain_logs["data"]
    # The command line client, following the task's stderr.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = subprocess.Popen([PYTHON, "-m", "scheduler.cli", "logs", str(ours.task_id), "--stderr", "-f",
                            "--api", str(server.make_url(""))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env)
    try:
        assert cli.stdout is not None
        lines = [(await asyncio.to_thread(cli.stdout.readline)).decode() for _ in range(50)]
        assert all(line.startswith("err ") for line in lines[1:])
    finally:
        cli.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(cli.wait, 30)
        except subprocess.TimeoutExpired:
            cli.kill()
            await asyncio.to_thread(cli.wait)
        cli.stdout.close()  # type: ignore[union-attr]
        cli.stderr.close()  # type: ignore[union-attr]
    # The API is served by this test's loop: the CLI runs in a thread so the loop can answer it.
    out = await asyncio.to_thread(subprocess.run, [PYTHON, "-m", "scheduler.cli", "logs", str(plain.task_id),
                                                   "--api", str(server.make_url(""))],
                                  capture_output=True, env=env, timeout=60)
    assert out.returncode == 0 and b"plain output" in out.stdout
    missing = await asyncio.to_thread(subprocess.run, [PYTHON, "-m", "scheduler.cli", "logs", "nope", "--api",
                                                       str(server.make_url(""))],
                                      capture_output=True, env=env, timeout=60)
    assert missing.returncode == 1 and b"Task 'nope' does not exist" in missing.stderr


async def test_following_ends_when_the_task_has_ended(api: Any, mesos: ThreadedCluster) -> None:
    runtime, server = api
    await runtime.put_app(sleeper("/brief", cmd="for i in 1 2 3 4 5; do echo n$i; sleep 0.2; done", executor=OURS,
                                  instances=1))
    instance = await one_running(runtime, "/brief")
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url(f"/v2/tasks/{instance.task_id}/logs?offset=0&follow=true")) as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
            text = (await asyncio.wait_for(response.content.read(), 60)).decode()  # to the end of the stream
    assert text == "".join(f"n{i}\n" for i in range(1, 6))


def test_the_executor_imports_no_scheduler_code() -> None:
    """The executor as a separate process: ``python -m executor --help`` works without scheduler/api loaded."""
    out = subprocess.run([PYTHON, "-c", "import sys, runpy; sys.argv=['x','--help']\n"
                          "try:\n runpy.run_module('executor', run_name='__main__')\nexcept SystemExit: pass\n"
                          "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
                          "('scheduler','api','localmesos'))))".replace("print(json", "import json; print(json")],
                         capture_output=True, cwd=REPO, timeout=60)
    assert json.loads(out.stdout.decode().splitlines()[-1]) == []

