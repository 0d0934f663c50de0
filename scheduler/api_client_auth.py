"""The API client credentials of ``mesospaas logs`` and ``mesospaas secret``: ``scheduler.lb.client_auth``.

One implementation for every client of the API (the lb may import nothing of the scheduler outside
``scheduler/lb``, so the code lives there and is re-exported here).
"""

from scheduler.lb.client_auth import add_client_arguments, headers, request, session_kwargs, ssl_context

__all__ = ["add_client_arguments", "headers", "request", "session_kwargs", "ssl_context"]
