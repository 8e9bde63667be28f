"""pytest plugin of django-express-session, loaded through the ``pytest11`` entry point.

It always offers ``express_client``, ``express_async_client`` and
``express_admin_client``: Django's test clients with express-session's signed cookie,
and lets Django's stock test client keep its raw session cookie (``testing.stock``).
It changes nothing else unless the project opts in, with ``express_session_client =
true`` in its pytest configuration or ``--express-session-client`` on the command line;
then pytest-django's ``client``, ``async_client`` and ``admin_client`` are these clients
too, so existing tests work unchanged.

Nothing of Django is imported until a fixture runs (pytest-django configures it first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .client import AsyncClient, Client

from .isolation import REAL_STORE, REAL_STORE_FLAG, REAL_STORE_HELP

OPTION = "express_session_client"
FIXTURES_PLUGIN = "django_express_session.testing.fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    help_text = (
        "make pytest-django's client, async_client and admin_client fixtures send "
        "django-express-session's signed session cookie"
    )
    parser.addini(OPTION, help_text, type="bool", default=False)
    parser.getgroup("django-express-session").addoption(
        "--express-session-client", action="store_true", dest=OPTION, help=help_text
    )
    parser.addini(REAL_STORE, REAL_STORE_HELP, type="bool", default=False)
    parser.getgroup("django-express-session").addoption(
        REAL_STORE_FLAG, action="store_true", dest=REAL_STORE, help=REAL_STORE_HELP
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption(OPTION) or config.getini(OPTION):
        # Registered after pytest-django, so its fixtures of the same names give way.
        config.pluginmanager.import_plugin(FIXTURES_PLUGIN)


@pytest.fixture(scope="session", autouse=True)
def _express_session_stock_client(request: pytest.FixtureRequest) -> Iterator[None]:
    """Django's stock test client works under this engine in every test of the run, and
    the run's sessions go to an isolated store (``testing.isolation``) unless the
    project asks for the configured one."""
    from django.apps import apps
    from django.conf import settings

    if not (settings.configured and apps.ready):  # not a Django project's run
        yield
        return
    from .isolation import isolate
    from .stock import disable, enable

    config = request.config
    real_store = config.getoption(REAL_STORE) or config.getini(REAL_STORE)
    enable()
    undo = (lambda: None) if real_store else isolate()
    yield
    undo()
    disable()


def _require_django() -> None:
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings are not configured (DJANGO_SETTINGS_MODULE)")


@pytest.fixture
def express_client() -> Client:
    """``django.test.Client`` whose ``login()``, ``force_login()``, ``logout()`` and
    ``session`` use express-session's signed cookie."""
    _require_django()
    from .client import Client

    return Client()


@pytest.fixture
def express_async_client() -> AsyncClient:
    """``django.test.AsyncClient`` with express-session's signed cookie."""
    _require_django()
    from .client import AsyncClient

    return AsyncClient()


@pytest.fixture
def express_admin_client(db: None, admin_user: Any) -> Client:
    """A client logged in as pytest-django's ``admin_user`` (needs pytest-django)."""
    from .client import Client

    client = Client()
    client.force_login(admin_user)
    return client
