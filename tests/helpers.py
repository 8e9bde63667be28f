"""What the behaviour tests share: a spy on store calls, and cookie helpers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from django.http import HttpResponse

from django_express_session import conf, signing
from django_express_session.cookie import Cookie
from django_express_session.core.state import OWN_KEY

SECRET = "keyboard cat"
NAME = "connect.sid"


class StoreSpy:
    """Records the store operations a request causes, named as express's store calls:
    a read is ``get``, a create or update is ``set``. A store that refreshes the expiry
    while reading counts a ``touch`` where express would have touched (no ``set``)."""

    OPERATIONS = {"read": "get", "create": "set", "replace": "set", "touch": "touch",
                  "destroy": "destroy"}  # fmt: skip

    def __init__(self, monkeypatch: Any) -> None:
        self.store = conf.get_store()
        self.calls: list[str] = []
        self._touched_on_read = False
        for method, name in self.OPERATIONS.items():
            self._wrap(monkeypatch, method, name)

    def _wrap(self, monkeypatch: Any, method: str, name: str) -> None:
        original = getattr(self.store, method)

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            result = original(*args, **kwargs)
            if method == "read" and result is not None and result.touched:
                self._touched_on_read = True
            return result

        monkeypatch.setattr(self.store, method, spy)

    def take(self) -> list[str]:
        calls = self.calls[:]
        if self._touched_on_read and not {"set", "destroy"} & set(calls):
            calls.append("touch")
        self.calls.clear()
        self._touched_on_read = False
        return calls


def express_session(**options: Any) -> dict[str, Any]:
    """``EXPRESS_SESSION`` as the tests mostly want it (the test secret, ``resave`` and
    ``saveUninitialized`` off), with ``options`` (express's names, ``store`` included)
    on top."""
    return {"secret": SECRET, "resave": False, "saveUninitialized": False, **options}


def configurer(settings: Any, store_settings: dict, urlconf: str, **given: Any) -> Any:
    """Serve ``urlconf`` with only the package's middleware, and give
    ``configure(**options)``, which sets ``express_session`` over ``store_settings``
    with ``given`` and then ``options``, and returns the store."""
    settings.ROOT_URLCONF = urlconf
    settings.MIDDLEWARE = ["django_express_session.middleware.SessionMiddleware"]

    def configure(**options: Any) -> Any:
        settings.EXPRESS_SESSION = express_session(**{"store": store_settings, **given, **options})
        return conf.get_store()

    return configure


def use_express_session(settings: Any, **options: Any) -> None:
    """Point the test URLs and ``express_session(**options)`` at Django."""
    settings.ROOT_URLCONF = "tests.urls"
    settings.EXPRESS_SESSION = express_session(**options)


def cookie_header(sid: str, secret: str = SECRET, name: str = NAME) -> str:
    return f"{name}={signing.cookie_value(sid, secret)}"


def set_cookie(response: HttpResponse, name: str = NAME) -> str | None:
    """The ``Set-Cookie`` line for the session cookie, or None."""
    morsel = response.cookies.get(name)
    return None if morsel is None else morsel.OutputString()


def sid_of(line: str | None, secrets: tuple[str, ...] = (SECRET,)) -> str | None:
    """The session id a ``Set-Cookie`` line carries (None if unsigned or foreign)."""
    if not line:
        return None
    value = line.split(";", 1)[0].split("=", 1)[1]
    return signing.session_id(unquote(value), secrets)


def stored_session(data: dict[str, Any], max_age: int | None = 60_000) -> dict[str, Any]:
    """A record as express would have stored it for a cookie with this ``maxAge``."""
    cookie = Cookie()
    cookie.max_age = max_age
    return {"cookie": cookie.to_json(), **data}


# Keys a store adds to the record (session-file-store, connect-mongo), as Node shows them.
STORE_METADATA = ("__lastAccess", "lastModified")


def user_data(data: dict[str, Any]) -> dict[str, Any]:
    """The session data without the keys a store adds."""
    return {key: value for key, value in data.items() if key not in STORE_METADATA}


def outcome(response: HttpResponse, store: Any, sid: str) -> dict[str, Any]:
    """How a request of session ``sid`` ended: status, cookie (None, "cleared", or
    whether it names ``sid``), ``Vary``, the stored data (None: no record) and the keys
    of the package's own dict in it (its moments are the request's own: which it holds,
    not when)."""
    line = set_cookie(response)
    stored = store.read(sid)
    data = None if stored is None else user_data(stored.record)
    own = None if stored is None else stored.record.get(OWN_KEY)
    return {
        "status": response.status_code,
        "cookie": None if line is None else ("cleared" if "=;" in line else sid_of(line) == sid),
        "vary": response.get("Vary"),
        "stored": None
        if data is None
        else {k: v for k, v in data.items() if k not in ("cookie", OWN_KEY)},
        "own keys": None if own is None else sorted(own),
    }


def merge(store: Any, sid: str, changes: Any, known: Any = None) -> Any:
    """Save one request's ``changes`` onto ``sid`` as the session core does."""
    from django_express_session.core import plans
    from django_express_session.core.drive import run

    return run(plans.update(sid, changes, known), store)


async def amerge(store: Any, sid: str, changes: Any, known: Any = None) -> Any:
    from django_express_session.core import plans
    from django_express_session.core.drive import arun

    return await arun(plans.update(sid, changes, known), store)


def idle_expiry_in_real_time(client: Any, max_age_ms: int) -> None:
    """The idle-timeout recipe (``rolling``, ``maxAge``: ``max_age_ms``) against a
    store whose server's clock ends sessions, waiting for real: a request every quarter
    of the timeout, for longer than it, keeps the session; silence for the timeout and
    a second more ends it. Needs ``tests.lifetime_urls``."""
    header = cookie_header(sid_of(set_cookie(client.get("/set", {"v": "x"}))))
    deadline = time.monotonic() + max_age_ms * 1.2 / 1000
    while time.monotonic() < deadline:
        time.sleep(max_age_ms / 4000)
        assert client.get("/read", HTTP_COOKIE=header).json()["data"] == {"v": "x"}
    time.sleep(max_age_ms / 1000 + 1.1)
    assert client.get("/read", HTTP_COOKIE=header).json()["data"] == {}


def sample_project_env(project_dir: Path, express: dict, **settings: str) -> dict[str, str]:
    """The environment of a sample project run in a process of its own: this process's,
    less what pytest and pytest-django set for this run, with the project's directory and
    this checkout importable and its ``EXPRESS_SESSION`` (``SAMPLE_EXPRESS_SESSION``)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST_") and key != "DJANGO_SETTINGS_MODULE"
    }
    checkout = Path(__file__).resolve().parent.parent
    env.update(
        PYTHONPATH=os.pathsep.join([str(project_dir), str(checkout)]),
        SAMPLE_EXPRESS_SESSION=json.dumps(express),
        **settings,
    )
    return env
