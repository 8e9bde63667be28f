"""``migrateFrom`` in-process, on the engines without a table of their own: ``cache``
(local memory, a real Redis), ``file`` and ``signed_cookies``; the derived ids; the
``migratesessions`` command's refusals. (The ``db`` engine, gunicorn and uvicorn:
``tests/test_migrate_from_http.py``.)"""

from __future__ import annotations

import importlib
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.contrib.sessions.backends.file import SessionStore as FileSession
from django.core.management import CommandError, call_command
from django.test import AsyncClient, Client
from django.utils import timezone

from django_express_session import conf
from django_express_session.migration import derive_sid
from tests.helpers import SECRET, sid_of

pytestmark = pytest.mark.django_db

CACHE = "django.contrib.sessions.backends.cache"
FILE = "django.contrib.sessions.backends.file"
SIGNED = "django.contrib.sessions.backends.signed_cookies"


@pytest.fixture
def migrate_from(settings, store_memory, tmp_path, monkeypatch):
    """Configure ``migrateFrom`` with ``engine`` over the memory store; return the old
    engine's ``SessionStore``."""

    def configure(engine: str, store: dict | None = None, **express):
        settings.ROOT_URLCONF = "tests.testing_urls"
        settings.SESSION_FILE_PATH = str(tmp_path)
        # The file engine reads SESSION_FILE_PATH once per process.
        monkeypatch.setattr(FileSession, "_storage_path", str(tmp_path), raising=False)
        settings.EXPRESS_SESSION = {
            "secret": SECRET,
            "resave": False,
            "saveUninitialized": False,
            "cookie": {"maxAge": 3_600_000},
            "migrateFrom": {"engine": engine},
            "store": store or store_memory,
            **express,
        }
        return importlib.import_module(engine).SessionStore

    return configure


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="wonderland")


def old_login(engine_class, user, **extra) -> str:
    """A session the old engine saved for ``user`` (what Django's login() leaves)."""
    old = engine_class()
    old["_auth_user_id"] = str(user.pk)
    old["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    old["_auth_user_hash"] = user.get_session_auth_hash()
    old.update(extra)
    old.save()
    return old.session_key


def browser(old_key: str) -> Client:
    client = Client()
    client.cookies["sessionid"] = old_key
    return client


def express_sid(client: Client) -> str | None:
    morsel = client.cookies.get("connect.sid")
    return sid_of(morsel.OutputString() if morsel and morsel.value else None, (SECRET,))


# -- ids ----------------------------------------------------------------------------------


def test_derived_ids_are_stable_secret_keyed_and_shaped_like_genid():
    sid = derive_sid("abcdefgh12345678", "secret one")

    assert sid == derive_sid("abcdefgh12345678", "secret one")
    assert sid != derive_sid("abcdefgh12345679", "secret one")
    assert sid != derive_sid("abcdefgh12345678", "secret two")
    assert len(sid) == 32 and set(sid) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


# -- the request path -----------------------------------------------------------------


@pytest.mark.parametrize("engine", [CACHE, FILE, SIGNED])
def test_a_user_of_the_old_engine_stays_logged_in(migrate_from, alice, engine):
    old_engine = migrate_from(engine)
    key = old_login(old_engine, alice, _csrftoken="t0k3n", cart=["apple"])
    client = browser(key)

    response = client.get("/whoami")

    assert response.content == b"alice"
    sid = express_sid(client)
    assert sid == derive_sid(key, SECRET)
    # For Django's test client the old cookie's name is its own: it now holds the new id.
    assert client.cookies["sessionid"].value == sid
    stored = conf.get_store().get(sid)
    assert stored["_csrftoken"] == "t0k3n" and stored["cart"] == ["apple"]
    assert stored["cookie"]["originalMaxAge"] == 3_600_000
    if engine != SIGNED:
        assert old_engine(session_key=key).load() == {}, "the old record is removed"
    del client.cookies["sessionid"]
    assert client.get("/whoami").content == b"alice"


def test_concurrent_requests_that_lose_the_create_race_load_the_winners_session(
    migrate_from, alice
):
    old_engine = migrate_from(CACHE)
    key = old_login(old_engine, alice)
    sid = derive_sid(key, SECRET)
    winner = {"cookie": {"originalMaxAge": 3_600_000, "path": "/"}, "winner": "yes"}
    conf.get_store().create(sid, winner)  # another request created it a moment ago

    response = browser(key).get("/read")

    assert response.json() == {"id": sid, "data": {"winner": "yes"}}


def test_an_old_cookie_of_a_gone_session_gets_a_random_id_not_the_derived_one(migrate_from):
    migrate_from(CACHE)
    client = browser("abcdefgh12345678abcdefgh12345678")

    client.get("/set", {"v": "1"})

    assert express_sid(client) not in (None, derive_sid("abcdefgh12345678abcdefgh12345678", SECRET))


def test_an_expired_old_session_is_not_moved(migrate_from, alice):
    old_engine = migrate_from(FILE)
    old = old_engine()
    old["_auth_user_id"] = str(alice.pk)
    old.set_expiry(timezone.now() - timedelta(seconds=1))
    old.save()

    assert browser(old.session_key).get("/whoami").content == b"anonymous"


def test_set_expiry_0_becomes_a_browser_session_cookie(migrate_from, alice):
    old_engine = migrate_from(CACHE)
    client = browser(old_login(old_engine, alice, _session_expiry=0))

    client.get("/whoami")

    stored = conf.get_store().get(express_sid(client))
    assert stored["cookie"]["originalMaxAge"] is None
    assert "_session_expiry" not in stored


def test_the_async_path_moves_the_session_once(migrate_from, alice):
    old_engine = migrate_from(CACHE)
    key = old_login(old_engine, alice)

    @async_to_sync
    async def first_requests():
        client = AsyncClient()
        client.cookies["sessionid"] = key
        return [(await client.get("/async-read")).json() for _ in range(2)]

    first, second = first_requests()
    assert first["id"] == second["id"] == derive_sid(key, SECRET)
    assert first["data"]["_auth_user_id"] == str(alice.pk)


def test_on_a_real_redis_with_the_cache_engine_on_django_redis(
    migrate_from, alice, store_redis, settings
):
    settings.SESSION_CACHE_ALIAS = "express_sessions"  # the django-redis alias
    old_engine = migrate_from(CACHE, store=store_redis)
    key = old_login(old_engine, alice)

    assert browser(key).get("/whoami").content == b"alice"
    assert conf.get_store().get(derive_sid(key, SECRET))["_auth_user_id"] == str(alice.pk)


# -- migratesessions ---------------------------------------------------------------------


def migratesessions(*argv: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("migratesessions", *argv, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_migratesessions_on_files_converts_live_sessions_and_skips_expired(migrate_from, alice):
    old_engine = migrate_from(FILE)
    keys = [old_login(old_engine, alice, n=n) for n in range(3)]
    expired = old_engine()
    expired["n"] = "late"
    expired.set_expiry(timezone.now() - timedelta(seconds=1))
    expired.save()

    out, err = migratesessions("--batch-size", "2")

    assert "Converted 3 sessions" in out and "1 expired or empty" in out, out
    assert "100%  4/4 sessions" in err, err
    store = conf.get_store()
    assert [store.get(derive_sid(key, SECRET))["n"] for key in keys] == [0, 1, 2]
    assert migratesessions()[0].startswith("Converted 0 sessions")


def test_migratesessions_dry_run_changes_nothing(migrate_from, alice):
    old_engine = migrate_from(FILE)
    key = old_login(old_engine, alice)

    out, _ = migratesessions("--dry-run", "--no-progress")

    assert out.startswith("Would convert 1 session ")
    assert conf.get_store().get(derive_sid(key, SECRET)) is None
    assert old_engine(session_key=key).load()


def test_migratesessions_on_redis_scans_the_cache_engines_keys(
    migrate_from, alice, store_redis, settings
):
    settings.SESSION_CACHE_ALIAS = "express_sessions"
    old_engine = migrate_from(CACHE, store=store_redis)
    keys = [old_login(old_engine, alice, n=n) for n in range(5)]

    out, _ = migratesessions("--batch-size", "2", "--no-progress")

    assert "Converted 5 sessions" in out, out
    assert all(conf.get_store().get(derive_sid(key, SECRET)) for key in keys)
    assert all(old_engine(session_key=key).load() == {} for key in keys)


@pytest.mark.parametrize(
    ("engine", "why"),
    [(CACHE, "cannot list its keys"), (SIGNED, "stores nothing")],
)
def test_migratesessions_says_which_engines_cannot_be_listed(migrate_from, engine, why):
    migrate_from(engine)

    with pytest.raises(CommandError, match=why):
        migratesessions()


def test_migratesessions_needs_migrate_from(settings):
    settings.EXPRESS_SESSION = {"secret": SECRET}

    with pytest.raises(CommandError, match="migrateFrom"):
        migratesessions()


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_logout_everywhere_ends_the_sessions_the_old_engine_still_holds(migrate_from, alice, twin):
    from django_express_session import users

    old_engine = migrate_from(FILE)
    bob = User.objects.create_user("bob", password="looking-glass")
    not_yet_back, bobs = old_login(old_engine, alice), old_login(old_engine, bob)
    moved = browser(old_login(old_engine, alice))
    assert moved.get("/whoami").content == b"alice"  # converted on this visit

    logout = users.logout_everywhere if twin == "sync" else async_to_sync(users.alogout_everywhere)
    assert logout(alice) == 2
    assert old_engine(session_key=not_yet_back).load() == {}
    assert browser(not_yet_back).get("/whoami").content == b"anonymous"
    assert moved.get("/whoami").content == b"anonymous"
    assert browser(bobs).get("/whoami").content == b"bob"


# -- the old cookie, response by response (the middleware alone, not the test client) ----


def through_middleware(old_key: str, status: int = 200):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from django_express_session.middleware import SessionMiddleware

    def view(request):
        user = request.session.get("_auth_user_id")
        return HttpResponse(b"alice" if user else b"anonymous", status=status)

    request = RequestFactory().get("/", HTTP_COOKIE=f"sessionid={old_key}")
    return SessionMiddleware(view)(request)


def test_the_old_cookie_is_deleted_when_the_express_cookie_is_set(migrate_from, alice):
    key = old_login(migrate_from(CACHE), alice)

    response = through_middleware(key)

    assert response.content == b"alice"
    assert response.cookies["sessionid"]["max-age"] == 0
    assert response.cookies["connect.sid"].value.startswith("s%3A")


def test_a_5xx_keeps_the_old_cookie_which_still_finds_the_moved_session(migrate_from, alice):
    key = old_login(migrate_from(CACHE), alice)

    failed = through_middleware(key, status=500)

    assert "sessionid" not in failed.cookies and "connect.sid" not in failed.cookies
    assert through_middleware(key).content == b"alice"


def test_an_old_engine_that_fails_is_a_503_that_keeps_the_old_cookie(migrate_from):
    # (Django's own cache engine reads a failing cache as "no session": that it cannot tell.)
    migrate_from("tests.migration.broken_engine")

    response = through_middleware("abcdefgh12345678abcdefgh12345678")

    assert response.status_code == 503
    assert "sessionid" not in response.cookies


def test_a_session_converted_before_the_secret_was_rotated_is_found(
    migrate_from, alice, settings, store_file
):
    key = old_login(migrate_from(CACHE, store=store_file), alice)
    assert through_middleware(key).content == b"alice"  # converted under SECRET

    settings.EXPRESS_SESSION = {**settings.EXPRESS_SESSION, "secret": ["new secret", SECRET]}

    assert through_middleware(key).content == b"alice"


# -- when migrateFrom can go: migratesessions --status -------------------------------------


def test_status_says_until_when_migrate_from_must_stay_before_and_after_migratesessions(
    migrate_from, alice, store_file, settings
):
    old_engine = migrate_from(FILE, store=store_file)
    soon = old_login(old_engine, alice, _session_expiry=3600)
    late = old_login(old_engine, alice, _session_expiry=7 * 24 * 3600)
    late_expiry = old_engine(session_key=late).get_expiry_date()
    said_late = late_expiry.strftime("%Y-%m-%d %H:%M UTC")

    before, _ = migratesessions("--status")

    assert f"Old sessions left ({FILE}): 2; the newest expires {said_late}." in before
    assert f"Keep migrateFrom until {said_late}" in before

    migratesessions("--no-progress")
    after, _ = migratesessions("--status")

    assert f"Old sessions left ({FILE}): 0." in after
    assert (
        f"Converted by migratesessions, waiting for their users: the newest expires {said_late}"
        in after
    )
    assert f"Keep migrateFrom until {said_late}" in after
    # Why: the converted session is found only through migrateFrom's derived id.
    assert browser(soon).get("/whoami").content == b"alice"
    settings.EXPRESS_SESSION = {
        key: value for key, value in settings.EXPRESS_SESSION.items() if key != "migrateFrom"
    }
    assert browser(late).get("/whoami").content != b"alice"


def test_status_on_an_engine_that_cannot_be_listed_bounds_by_the_cookie_age(migrate_from, settings):
    migrate_from(SIGNED)
    settings.SESSION_COOKIE_AGE = 86400

    said, _ = migratesessions("--status")

    assert "Old sessions left: unknown (the signed_cookies engine stores nothing" in said
    assert "at least: old cookies last SESSION_COOKIE_AGE (86,400 s)" in said


def test_status_says_when_migrate_from_can_go(migrate_from):
    from django_express_session.migration_status import Status, describe

    migrate_from(FILE)
    migrate = conf.get_options().migrate_from
    past = timezone.now() - timedelta(days=1)

    said = describe(Status(0, None, past), migrate, timezone.now(), 1_209_600)

    assert (
        "migrateFrom (and django.contrib.sessions, if only migrateFrom read its table) can be removed"
        in said
    )
