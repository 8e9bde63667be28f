"""Test helpers for projects that use django-express-session.

``Client`` and ``AsyncClient`` are Django's test clients with the session cookie the
middleware expects (signed, under the configured name); ``attach_session`` gives a
``RequestFactory`` request a working ``request.session``. The pytest plugin
(``django_express_session.testing.pytest_plugin``) offers them as fixtures.

The names are imported on first use, so that loading the pytest plugin (which lives in
this package) imports nothing of Django before pytest-django has configured it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import AsyncClient, Client, ExpressSessionClientMixin
    from .requests import aattach_session, attach_session

_EXPORTS = {
    "AsyncClient": "client",
    "Client": "client",
    "ExpressSessionClientMixin": "client",
    "aattach_session": "requests",
    "attach_session": "requests",
}

__all__ = [
    "AsyncClient",
    "Client",
    "ExpressSessionClientMixin",
    "aattach_session",
    "attach_session",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
