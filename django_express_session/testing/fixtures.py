"""pytest-django's ``client``, ``async_client`` and ``admin_client``, replaced by clients
that carry express-session's signed cookie, so existing tests work unchanged.

The pytest plugin registers this module when a project opts in
(``express_session_client = true`` in its pytest configuration, or
``--express-session-client``). Listing it in the root ``conftest.py``'s
``pytest_plugins`` does the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .client import AsyncClient, Client


@pytest.fixture
def client(express_client: Client) -> Client:
    """A test client (``django_express_session.testing.Client``)."""
    return express_client


@pytest.fixture
def async_client(express_async_client: AsyncClient) -> AsyncClient:
    """An async test client (``django_express_session.testing.AsyncClient``)."""
    return express_async_client


@pytest.fixture
def admin_client(express_admin_client: Client) -> Client:
    """A test client logged in as pytest-django's ``admin_user``."""
    return express_admin_client
