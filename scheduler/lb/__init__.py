"""``mesospaas lb``: the edge process (marathon-lb's job, done without dropping requests).

A separate process that reads only the public Marathon v2 HTTP API (so it also works against a real
Marathon) and drives HAProxy. It imports nothing from ``scheduler`` outside this package and nothing from
``api``; the rendering is the pure ``mesospaas.routing`` core.

- ``client``: the API URLs with failover (follows the leader), ``/v2/apps?embed=apps.tasks`` and the
  ``/v2/events`` stream (backoff, silent-stream timeout).
- ``haproxy``: validation (``haproxy -c``), atomic install, master-worker start/reload/supervision, and the
  runtime API.
- ``edge``: the loop: coalesce events, render, apply through the runtime API or a reload, quarantine apps
  whose config HAProxy rejects.
- ``status``: ``/status`` and ``/metrics/prometheus`` on ``--status-port`` (answers while HAProxy is down).
- ``zdd``: ``mesospaas lb zdd``, marathon-lb's blue/green deploy.
- ``cli``: the flags (``MESOSPAAS_LB_*`` fallbacks).
"""
