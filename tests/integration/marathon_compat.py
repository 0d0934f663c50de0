"""The released ``marathon`` client (PyPI 0.13.0), importable on Python 3.11.

marathon-python 0.13.0's JSON encoders test ``isinstance(obj, collections.Iterable)``; that alias left the
``collections`` module in Python 3.10 (reference §10: the client's first known fault). Put the alias back, and
nothing else, before the client is imported: the client's second fault, raising ``TypeError`` on any response
key its models do not know, is deliberately NOT worked around, because the tests exist to show that the API
sends only keys the released client accepts. Import the client from here, never directly.
"""

from __future__ import annotations

import collections
import collections.abc

if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

import marathon  # noqa: E402  (must come after the alias)
from marathon import MarathonApp, MarathonClient  # noqa: E402
from marathon.exceptions import ConflictError, InternalServerError, MarathonError, NotFoundError  # noqa: E402
from marathon.models.events import MarathonApiPostEvent, MarathonStatusUpdateEvent  # noqa: E402
from marathon.models.group import MarathonGroup  # noqa: E402

__all__ = [
    "ConflictError",
    "InternalServerError",
    "MarathonApiPostEvent",
    "MarathonApp",
    "MarathonClient",
    "MarathonError",
    "MarathonGroup",
    "MarathonStatusUpdateEvent",
    "NotFoundError",
    "marathon",
]
