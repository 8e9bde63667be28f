"""Django's test client API over express sessions (``django_express_session.testing``).

``login()``, ``force_login()``, ``logout()`` and ``client.session`` behave as they do with
Django's own engine, against the file store and a real redis-server; the cookie in the
jar is the signed ``connect.sid`` the middleware expects, and the middleware still
ignores an unsigned one.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client as DjangoClient
from django.test import TestCase, override_settings

from django_express_session import conf
from django_express_session.testing import AsyncClient, Client, aattach_session, attach_session
from tests import views
from tests.helpers import SECRET, cookie_header, sid_of

pytestmark = pytest.mark.django_db

OPTIONS = {"secret": SECRET, "resave": False, "saveUninitialized": False}


@pytest.fixture(params=["file", "redis"])
def store(request, settings):
    """Configure ``EXPRESS_SESSION`` on the file store, then on a real Redis, and return
    the store."""
    settings.ROOT_URLCONF = "tests.testing_urls"
    settings.EXPRESS_SESSION = {
        **OPTIONS,
        "store": request.getfixturevalue(f"store_{request.param}"),
    }
    return conf.get_store()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="wonderland")


def jar_sid(client, name="connect.sid", secrets=(SECRET,)):
    """The session id the client's cookie carries, read as the middleware reads it."""
    morsel = client.cookies.get(name)
    return sid_of(morsel.OutputString() if morsel else None, secrets)


def whoami(client):
    return client.get("/whoami").content.decode()


def session_data(response):
    """The data a ``/read`` view saw (without the file store's own ``__lastAccess``)."""
    data = json.loads(response.content)["data"]
    data.pop("__lastAccess", None)
    return data


# -- logging in and out ------------------------------------------------------------------


def test_login_logs_the_user_in_with_a_signed_cookie(store, alice):
    client = Client()

    assert client.login(username="alice", password="wonderland") is True

    sid = jar_sid(client)
    assert sid is not None
    assert client.cookies["connect.sid"].value.startswith("s%3A")
    assert store.get(sid)["_auth_user_id"] == str(alice.pk)
    assert whoami(client) == "alice"


def test_login_with_wrong_credentials_logs_no_one_in(store, alice):
    client = Client()

    assert client.login(username="alice", password="nope") is False
    assert whoami(client) == "anonymous"


def test_force_login_logs_the_user_in(store, alice):
    client = Client()

    client.force_login(alice)

    assert whoami(client) == "alice"


def test_login_rotates_the_session_id_and_keeps_the_data(store, alice):
    client = Client()
    client.get("/set", {"cart": "3 apples"})
    before = jar_sid(client)

    client.force_login(alice)

    after = jar_sid(client)
    assert after != before
    assert store.get(before) is None
    assert client.get("/read").json()["data"]["cart"] == "3 apples"


def test_logout_destroys_the_session_and_empties_the_jar(store, alice):
    client = Client()
    client.force_login(alice)
    sid = jar_sid(client)

    client.logout()

    assert store.get(sid) is None
    assert "connect.sid" not in client.cookies
    assert whoami(client) == "anonymous"


def test_logging_out_through_a_view_works_too(store, alice):
    client = Client()
    client.force_login(alice)

    client.get("/logout")

    assert whoami(client) == "anonymous"


def test_admin_pages_open_for_a_staff_user(store, admin_user):
    client = Client()
    client.force_login(admin_user)

    response = client.get("/admin/")

    assert response.status_code == 200
    assert b"Site administration" in response.content


def test_admin_pages_redirect_an_anonymous_client_to_the_login(store):
    response = Client().get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# -- client.session ----------------------------------------------------------------------


def test_client_session_reads_what_views_stored(store):
    client = Client()
    client.get("/set", {"colour": "blue"})

    session = client.session

    assert session["colour"] == "blue"
    assert session.id == jar_sid(client)


def test_client_session_changes_reach_the_next_request_once_saved(store):
    client = Client()
    client.get("/set", {"colour": "blue"})

    session = client.session
    session["colour"] = "red"
    session["size"] = "L"
    session.save()

    response = client.get("/read")
    assert response.json()["id"] == jar_sid(client)
    assert session_data(response) == {"colour": "red", "size": "L"}


def test_client_session_without_a_cookie_starts_a_stored_session(store):
    client = Client()

    session = client.session
    session["greeting"] = "hello"
    session.save()

    assert jar_sid(client) == session.id
    assert store.get(session.id)["greeting"] == "hello"
    assert session_data(client.get("/read")) == {"greeting": "hello"}


def test_client_session_replaces_a_cookie_whose_session_is_gone(store):
    client = Client()
    client.get("/set", {"k": "v"})
    gone = jar_sid(client)
    store.destroy(gone)

    session = client.session

    assert session.id != gone
    assert jar_sid(client) == session.id
    assert store.get(session.id) is not None


def test_client_session_unsaved_changes_are_not_sent(store):
    client = Client()
    client.get("/set", {"k": "v"})

    client.session["k"] = "changed"  # a new SessionStore each time, as with Django

    assert session_data(client.get("/read")) == {"k": "v"}


def test_jar_cookie_has_the_configured_attributes(settings, store, alice):
    settings.EXPRESS_SESSION = {
        **settings.EXPRESS_SESSION,
        "cookie": {"maxAge": 60_000, "sameSite": "lax", "path": "/"},
    }
    client = Client()

    client.force_login(alice)

    line = client.cookies["connect.sid"].OutputString()
    attributes = [part.split("=", 1)[0] for part in line.split("; ")[1:]]
    assert attributes == ["Path", "Expires", "HttpOnly", "SameSite"]
    assert store.get(jar_sid(client))["cookie"]["originalMaxAge"] == 60_000


def test_the_first_secret_signs_the_cookie(settings, store, alice):
    settings.EXPRESS_SESSION = {**settings.EXPRESS_SESSION, "secret": ["new secret", SECRET]}
    client = Client()

    client.force_login(alice)

    assert jar_sid(client, secrets=("new secret",)) is not None
    assert jar_sid(client, secrets=(SECRET,)) is None
    assert whoami(client) == "alice"


# -- settings ----------------------------------------------------------------------------


def test_override_settings_changes_the_cookie_name(settings, store, alice):
    with override_settings(EXPRESS_SESSION={**settings.EXPRESS_SESSION, "name": "app.sid"}):
        client = Client()
        client.force_login(alice)

        assert "connect.sid" not in client.cookies
        assert jar_sid(client, name="app.sid") is not None
        assert whoami(client) == "alice"

    assert conf.get_options().name == "connect.sid"
    assert whoami(client) == "anonymous"  # its cookie has another name now


# -- no backdoor -------------------------------------------------------------------------


def test_an_unsigned_session_id_cookie_is_still_ignored(store, alice):
    signed = Client()
    signed.force_login(alice)
    raw = DjangoClient()
    raw.cookies["connect.sid"] = jar_sid(signed)

    assert whoami(raw) == "anonymous"


def test_djangos_own_client_logs_in_through_its_raw_cookie_in_tests(store, alice):
    client = DjangoClient()
    client.force_login(alice)

    assert whoami(client) == "alice"  # see tests/test_stock_client.py


# -- async -------------------------------------------------------------------------------


def test_async_client_logs_in_and_reads_the_session(store, alice):
    @async_to_sync
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        assert (await client.get("/whoami")).content == b"alice"

        session = await client.asession()
        await session.aset("theme", "dark")
        await session.asave()
        assert (await client.get("/async-read")).json()["data"]["theme"] == "dark"

        await client.alogout()
        assert (await client.get("/whoami")).content == b"anonymous"

    scenario()


def test_async_client_login_with_credentials(store, alice):
    @async_to_sync
    async def scenario():
        client = AsyncClient()
        assert await client.alogin(username="alice", password="wonderland") is True
        return (await client.get("/whoami")).content

    assert scenario() == b"alice"


# -- RequestFactory ----------------------------------------------------------------------


def test_attach_session_gives_a_bare_request_a_new_session(store, rf):
    request = rf.get("/save", {"k": "v"})

    session = attach_session(request)
    views.save(request)

    assert request.session is session
    assert store.get(session.id)["k"] == "v"


def test_attach_session_sets_initial_data(store, rf):
    request = rf.get("/read")

    attach_session(request, {"cart": ["apple"]})

    assert session_data(views.read(request)) == {"cart": ["apple"]}


def test_attach_session_loads_a_stored_session_by_id(store, rf):
    client = Client()
    client.get("/set", {"k": "stored"})
    request = rf.get("/read")

    session = attach_session(request, sid=jar_sid(client))

    assert session["k"] == "stored"


def test_attach_session_follows_the_requests_signed_cookie(store, rf):
    client = Client()
    client.get("/set", {"k": "stored"})
    sid = jar_sid(client)

    signed = attach_session(rf.get("/read", HTTP_COOKIE=cookie_header(sid)))
    unsigned = attach_session(rf.get("/read", HTTP_COOKIE=f"connect.sid={sid}"))

    assert signed.id == sid and signed["k"] == "stored"
    assert unsigned.id != sid and dict(unsigned.items()) == {}


def test_attach_session_for_an_unknown_id_starts_a_new_session(store, rf):
    session = attach_session(rf.get("/"), sid="not-a-stored-id")

    assert session.id != "not-a-stored-id"
    assert dict(session.items()) == {}


def test_aattach_session_works_with_the_async_request_factory(store, async_rf):
    client = Client()
    client.get("/set", {"k": "stored"})
    request = async_rf.get("/async-read")

    @async_to_sync
    async def scenario():
        await aattach_session(request, sid=jar_sid(client))
        return await views.async_read(request)

    assert session_data(scenario()) == {"k": "stored"}


# -- Django's TestCase -------------------------------------------------------------------


@override_settings(
    ROOT_URLCONF="tests.testing_urls",
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    EXPRESS_SESSION={**OPTIONS, "store": {"backend": "memory", "options": {}}},
)
class ClientClassTests(TestCase):
    client_class = Client
    async_client_class = AsyncClient

    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create_user("carol", password="secret")

    def test_login_through_the_client_class(self):
        self.assertTrue(self.client.login(username="carol", password="secret"))
        self.assertContains(self.client.get("/whoami"), "carol")

    async def test_async_login_through_the_async_client_class(self):
        await self.async_client.aforce_login(self.user)
        self.assertContains(await self.async_client.get("/whoami"), "carol")
