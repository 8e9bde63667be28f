"""``django_express_session.users``: a user's sessions listed and ended, on every store
that can list them."""

from __future__ import annotations

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import AsyncClient

from django_express_session import conf, signals, users
from django_express_session.owner import Owner
from django_express_session.record import now_ms
from django_express_session.stores.memory import MemoryStore
from tests.helpers import set_cookie, stored_session
from tests.test_identity import browser, express_login, user_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def urls(settings, express):
    settings.ROOT_URLCONF = "tests.users_support"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def listable(request, store_settings):
    """Every test but the memcached one runs on the stores that can list sessions."""
    on_memcached = conf.get_store().name == "cache" and conf.get_store().kind == "memcached"
    if on_memcached and "memcached" not in request.node.name:
        pytest.skip("memcached cannot list a user's sessions (test_memcached_says_so)")
    if not on_memcached and "memcached" in request.node.name:
        pytest.skip("memcached only")


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw")


@pytest.fixture
def ended():
    """The ``session_ended`` signals sent, as (session_key, reason, session given)."""
    seen = []

    def receiver(sender, session, session_key, reason, **kwargs):
        seen.append((session_key, reason, session is not None))

    signals.session_ended.connect(receiver)
    yield seen
    signals.session_ended.disconnect(receiver)


def logged_in(name: str):
    client = browser()
    assert client.get("/login", {"username": name, "password": "pw"}).status_code == 200
    return client


def sid_of(client) -> str:
    return client.get("/me").json()["id"]


def test_sessions_of_lists_each_login_of_the_user_and_no_one_else(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    ids = {sid_of(laptop), sid_of(phone)}
    listed = users.sessions_of(alice)
    assert {s.hint[:6] for s in listed} == {sid[:6] for sid in ids}
    assert all(len(s.hint) < 10 for s in listed)  # a hint, never the id
    assert user_of(other) == "bob"


def test_logout_everywhere_ends_every_session_but_the_kept_one(alice, bob, ended):
    laptop, phone, tablet, other = (logged_in(n) for n in ("alice", "alice", "alice", "bob"))
    kept = sid_of(laptop)
    ended.clear()
    assert users.logout_everywhere(alice, keep=kept) == 2
    assert sorted(reason for _, reason, _ in ended) == ["everywhere", "everywhere"]
    assert user_of(laptop) == "alice"
    assert user_of(phone) is None and user_of(tablet) is None
    assert user_of(other) == "bob"
    assert [s.hint[:6] for s in users.sessions_of(alice)] == [kept[:6]]


def test_the_async_twins_agree(alice):
    logged_in("alice"), logged_in("alice")
    assert len(async_to_sync(users.asessions_of)(alice)) == 2
    assert async_to_sync(users.alogout_everywhere)(alice) == 2
    assert users.sessions_of(alice) == []


def test_end_sessions_returns_the_sessions_it_ended_as_they_were(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    kept, gone = sid_of(laptop), sid_of(phone)
    listed = {s.ref: s for s in users.sessions_of(alice)}
    assert users.end_sessions(alice, keep=kept) == [listed[users.ref_of(gone)]]
    assert user_of(phone) is None and user_of(laptop) == "alice" and user_of(other) == "bob"
    ended = async_to_sync(users.aend_sessions)(alice)
    assert [s.ref for s in ended] == [users.ref_of(kept)]


def test_sessions_the_express_app_wrote_are_found_and_ended(express, alice, bob):
    store = express(passport={"field": "username"})
    express_login(store, "express-alice-1", "alice")
    express_login(store, "express-bob-1", "bob")
    django_side = logged_in("alice")
    assert len(users.sessions_of(alice)) == 2
    assert users.logout_everywhere(alice) == 2
    assert store.get("express-alice-1") is None
    assert user_of(django_side) is None
    assert store.get("express-bob-1") is not None
    assert len(users.sessions_of(bob)) == 1


def test_expired_sessions_are_never_listed(alice):
    store = conf.get_store()
    store.set("expired-alice", stored_session({"_auth_user_id": str(alice.pk)}, -1000))
    logged_in("alice")
    assert len(users.sessions_of(alice)) == 1
    assert users.logout_everywhere(alice) == 1


@pytest.mark.parametrize("moment", [1e15, 1e308, -1e15])
def test_a_moment_no_date_can_show_is_unknown_and_ends_like_any_other(alice, moment):
    # 1e15 ms is a valid JavaScript date (year 33658) but past Python's year 9999.
    store = conf.get_store()
    own = {"createdAt": moment, "lastSeenAt": moment, "startedAt": moment}
    store.set(
        "far-alice", stored_session({"_auth_user_id": str(alice.pk), "djangoExpressSession": own})
    )
    logged_in("alice")
    listed = {s.hint: s for s in users.sessions_of(alice)}
    far = next(s for s in listed.values() if s.last_seen_at is None and s.created_at is None)
    assert far.user_agent is None
    assert users.logout_everywhere(alice) == 2
    assert store.get("far-alice") is None


def test_a_long_user_agent_is_cut_when_read(alice):
    store = conf.get_store()
    own = {"createdAt": 1, "userAgent": "A" * 40_000}
    store.set(
        "long-agent", stored_session({"_auth_user_id": str(alice.pk), "djangoExpressSession": own})
    )
    (listed,) = users.sessions_of(alice)
    assert listed.user_agent == "A" * 512


# -- the request's own session ----------------------------------------------------------


@pytest.mark.parametrize("resave", [False, True])
def test_ending_the_requests_own_session_leaves_it_ended(express, alice, ended, resave):
    express(resave=resave)
    laptop, phone = logged_in("alice"), logged_in("alice")
    own = sid_of(laptop)
    ended.clear()
    response = laptop.get("/everywhere")  # the view writes to the session afterwards
    assert response.json() == {"ended": 2}
    assert set_cookie(response).startswith("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970")
    assert conf.get_store().get(own) is None  # nothing saved it back
    assert user_of(laptop) is None and user_of(phone) is None
    assert (own, "everywhere", True) in ended and len(ended) == 2


def test_keeping_the_requests_own_session(alice):
    laptop, phone = logged_in("alice"), logged_in("alice")
    assert laptop.get("/everywhere", {"keep": "self"}).json() == {"ended": 1}
    assert user_of(laptop) == "alice"
    assert conf.get_store().get(sid_of(laptop))["written_after"] is True
    assert user_of(phone) is None


def test_the_async_view_ends_its_own_session_too(alice):
    laptop = logged_in("alice")
    own = sid_of(laptop)
    client = AsyncClient()
    client.cookies = laptop.cookies
    response = async_to_sync(client.get)("/aeverywhere")
    assert response.json() == {"ended": 1}
    assert conf.get_store().get(own) is None
    assert user_of(laptop) is None


def test_keep_of_another_type_is_refused(alice):
    logged_in("alice")
    with pytest.raises(TypeError, match="keep must be a session, a session id or None"):
        users.logout_everywhere(alice, keep=42)
    assert len(users.sessions_of(alice)) == 1  # nothing ended


# -- end_session ------------------------------------------------------------------------


def test_end_session_ends_one_session_by_its_ref(alice, bob, ended):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    listed = laptop.get("/sessions").json()["sessions"]
    assert [s["current"] for s in listed] == [True, False]
    ended.clear()
    assert laptop.get("/end", {"ref": listed[1]["ref"]}).json() == {"ended": True}
    assert [reason for _, reason, _ in ended] == ["everywhere"]
    assert user_of(phone) is None and user_of(laptop) == "alice"
    # Gone now; a ref of another user's session is not alice's to end.
    assert users.end_session(alice, listed[1]["ref"]) is False
    assert users.end_session(alice, users.sessions_of(bob)[0].ref) is False
    assert user_of(other) == "bob"


def test_end_session_of_the_requests_own_session(alice):
    laptop = logged_in("alice")
    own = users.sessions_of(alice)[0]
    assert laptop.get("/end", {"ref": own.ref}).json() == {"ended": True}
    assert user_of(laptop) is None


def test_end_session_async_and_a_bad_ref(alice):
    logged_in("alice")
    (listed,) = users.sessions_of(alice)
    with pytest.raises(TypeError, match="ref must be a UserSession's ref"):
        users.end_session(alice, None)
    assert async_to_sync(users.aend_session)(alice, listed.ref) is True
    assert users.sessions_of(alice) == []


def test_end_session_ends_the_one_session_its_ref_names_and_no_other_users(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    phone_sid = phone.get("/me").json()["id"]
    phone_ref = next(s.ref for s in users.sessions_of(alice) if s.hint[:6] == phone_sid[:6])
    assert users.end_session(bob, phone_ref) is False  # a ref of someone else's session
    assert user_of(phone) == "alice"
    assert users.end_session(alice, phone_ref) is True
    assert user_of(phone) is None and user_of(laptop) == "alice" and user_of(other) == "bob"
    assert users.end_session(alice, phone_ref) is False


def test_aend_session_is_the_async_twin(alice):
    phone = logged_in("alice")
    [session] = users.sessions_of(alice)
    assert async_to_sync(users.aend_session)(alice, session.ref) is True
    assert user_of(phone) is None


# -- a store that cannot list -----------------------------------------------------------


def test_memcached_says_so(alice):
    with pytest.raises(
        users.CannotListSessions, match="cannot find a user's sessions on memcached"
    ):
        users.sessions_of(alice)
    with pytest.raises(users.CannotListSessions, match="the database, file, memory, redis"):
        users.logout_everywhere(alice)
    with pytest.raises(NotImplementedError, match="memcached has no index"):
        conf.get_store().sessions_of(Owner(django_id=str(alice.pk)))  # the store's own


# -- manage.py logout_everywhere, reindexsessions ---------------------------------------


def command(*args, stdout=None) -> str:
    out = stdout or StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_command_ends_the_users_sessions_and_names_them(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    hints = sorted(s.hint for s in users.sessions_of(alice))
    lines = command("logout_everywhere", "alice").splitlines()
    assert lines[0] == "2 sessions of alice ended."
    assert sorted(line.split()[0] for line in lines[1:]) == hints
    assert user_of(laptop) is None and user_of(phone) is None
    assert user_of(other) == "bob"


def test_the_command_dry_run_ends_nothing_and_keep_keeps(alice):
    laptop, phone = logged_in("alice"), logged_in("alice")
    # --keep=SID: an id may start with "-", which argparse would read as an option.
    output = command("logout_everywhere", "alice", "--dry-run", f"--keep={sid_of(laptop)}")
    assert output.splitlines()[0] == "1 session of alice would be ended."
    assert user_of(phone) == "alice"
    assert command("logout_everywhere", "alice", f"--keep={sid_of(laptop)}").startswith(
        "1 session of alice ended."
    )
    assert user_of(laptop) == "alice" and user_of(phone) is None


def test_the_command_prints_no_terminal_escape_from_a_record(alice):
    store = conf.get_store()
    own = {"createdAt": 1, "userAgent": "Evil\x1b[2J\x1b]0;owned\x07\x9b"}
    store.set(
        "escapes", stored_session({"_auth_user_id": str(alice.pk), "djangoExpressSession": own})
    )
    output = command("logout_everywhere", "alice", "--dry-run")
    assert "Evil\\x1b[2J\\x1b]0;owned\\x07\\x9b" in output
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in output.replace("\n", ""))


def test_the_command_refuses_an_unknown_user(alice):
    logged_in("alice")
    with pytest.raises(CommandError, match="No user has username 'alicia': no session ended"):
        command("logout_everywhere", "alicia")
    assert len(users.sessions_of(alice)) == 1


def test_the_command_on_memcached_says_it_cannot(alice):
    with pytest.raises(CommandError, match="cannot find a user's sessions on memcached"):
        command("logout_everywhere", "alice")


def test_reindexsessions_says_when_there_is_no_index_to_rebuild():
    store = conf.get_store()
    output = command("reindexsessions")
    if store.reindex() is None:
        assert output == (
            f"The {store.name} store keeps no index of users' sessions that can drift: "
            "nothing to rebuild.\n"
        )
    else:
        assert output.endswith(" index entries fixed.\n")


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


class CountingIndex(MemoryStore):
    """A memory store with an index to rebuild, which it reports in two batches (what
    the command shows, whatever the store)."""

    def reindex(self, *, dry_run=False, progress=None):
        for done in (1000, 1500):
            if progress:
                progress(done)
        return 1500


def test_reindexsessions_shows_progress_on_a_terminal(settings):
    store = {"backend": "tests.test_users.CountingIndex", "options": {}}
    settings.EXPRESS_SESSION = {**settings.EXPRESS_SESSION, "store": store}
    shown = command("reindexsessions", "--dry-run", stdout=Terminal())
    assert shown == (
        "\r1,000 index entries would be fixed...\r1,500 index entries would be fixed...\r"
        "1,500 index entries would be fixed.\n"
    )
    assert command("reindexsessions") == "1,500 index entries fixed.\n"  # no tty: no bar


def test_a_session_past_its_absolute_cap_is_not_listed_but_is_ended(settings, alice):
    # The session layer ends it at its next read, but an Express app without the cap
    # would keep serving it: logout_everywhere deletes it.
    settings.EXPRESS_SESSION = {**settings.EXPRESS_SESSION, "absoluteMaxAge": 60_000}
    store = conf.get_store()
    own = {"startedAt": now_ms() - 120_000}
    capped = stored_session({"_auth_user_id": str(alice.pk), "djangoExpressSession": own})
    store.set("capped-alice", capped)
    logged_in("alice")
    assert len(users.sessions_of(alice)) == 1
    assert users.logout_everywhere(alice) == 2
    assert "capped-alice" not in store.all()
