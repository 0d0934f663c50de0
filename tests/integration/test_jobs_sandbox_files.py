"""The sandbox reader (``api.sandbox_files``) against a real localmesos agent serving a real task's
sandbox: found through the master's ``/master/slaves`` and the agent's ``/state``, read and listed with the
agent's ``/files/read`` and ``/files/browse`` (offset, length, size, tail, past the end), and its refusals."""

from __future__ import annotations

import pytest

from api.sandbox_files import SandboxError, SandboxFiles, SandboxNotFound, TaskSandbox
from tests.integration.test_jobs_on_localmesos import JobsCluster, finished, job, jobs  # noqa: F401


async def test_reads_and_lists_a_finished_tasks_sandbox(jobs: JobsCluster) -> None:  # noqa: F811
    assert (await jobs.call("POST", "/v1/jobs", job("out", "printf 0123456789")))[0] == 201
    await jobs.call("POST", "/v1/jobs/out/runs")
    body = await finished(jobs, "out", successes=1)
    task_id = body["history"]["successfulFinishedRuns"][0]["tasks"][0]
    assert jobs.runtime is not None
    framework_id = jobs.runtime.state.framework_id or ""
    agent_id = jobs.mesos_tasks(task_id)[0]["slave_id"]
    reader = SandboxFiles(jobs.mesos.address, timeout=5)
    try:
        sandbox = await reader.find(agent_id, framework_id, task_id)
        assert sandbox.directory.startswith("/") and ":" in sandbox.agent
        assert await reader.size(sandbox, "stdout") == 10
        assert (await reader.read(sandbox, "stdout", 0, 4)).data == "0123"
        chunk = await reader.read(sandbox, "stdout", 6, -1)
        assert (chunk.data, chunk.offset) == ("6789", 6)
        tail = await reader.tail(sandbox, "stdout", 3)
        assert (tail.data, tail.offset) == ("789", 7)
        past = await reader.read(sandbox, "stdout", 1000, 10)
        assert (past.data, past.offset) == ("", 1000)
        names = {entry.path.rsplit("/", 1)[1] for entry in await reader.browse(sandbox)}
        assert {"stdout", "stderr"} <= names
        with pytest.raises(SandboxNotFound):
            await reader.read(sandbox, "no-such-file", 0, 10)
        with pytest.raises(SandboxNotFound):  # outside the agent's work dir
            await reader.read(TaskSandbox(sandbox.agent, "/etc"), "passwd", 0, 10)
        with pytest.raises(SandboxNotFound):
            await reader.find(agent_id, framework_id, "no-such-task")
        with pytest.raises(SandboxNotFound):
            await reader.find("no-such-agent", framework_id, task_id)
    finally:
        await reader.close()


async def test_an_unreachable_agent_is_an_error_not_a_hang() -> None:
    reader = SandboxFiles("127.0.0.1:1", timeout=2)
    try:
        with pytest.raises(SandboxError):
            await reader.agent_address("any")
    finally:
        await reader.close()
