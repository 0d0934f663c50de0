"""The JSON of a task's latest usage report (``embed=tasks.stats``, ``GET /v2/tasks/{id}/stats``, ``/v2/tasks/stats``).

Owns ``usage_json``: one ``ReceivedUsageView`` (``api.platform``; the scheduler's ``TaskStats`` keeps them) as
the keys our routes answer. Never part of Marathon's task JSON unless asked for (the released client rejects
unknown task keys). Pure; fails: nothing raises.
"""

from __future__ import annotations

from typing import Any

from api.platform import ReceivedUsageView


def usage_json(received: ReceivedUsageView) -> dict[str, Any]:
    r = received.report
    return {"taskId": r.task_id, "timestamp": r.timestamp, "cpuUserSeconds": r.cpu_user_seconds,
            "cpuSystemSeconds": r.cpu_system_seconds, "cpuSeconds": r.cpu_seconds, "cpuShare": r.cpu_share,
            "rssBytes": r.rss_bytes, "threads": r.threads, "processes": r.processes,
            "agentId": received.agent_id, "receivedAt": received.received_at}


__all__ = ["usage_json"]
