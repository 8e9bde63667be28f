"""Bad input never becomes a 500, a store write or a read outside the store.

Every case runs on every store variant unless it concerns one store. Under
``saveUninitialized: false`` a request that brings a bogus cookie and changes nothing
gets a new, unsaved session: no store write and no cookie.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from django_express_session import conf, record, signing
from django_express_session.record import now_ms
from django_express_session.stores.base import Store
from tests.helpers import NAME, SECRET, cookie_header, set_cookie, sid_of, stored_session

# The database store's SQLite variant needs the test database before ``settings`` is
# touched; the marker sets it up first (a test without it sees the project's own file).
pytestmark = pytest.mark.django_db

# -- bogus cookies ------------------------------------------------------------------------


def tampered(value: str) -> str:
    signed = value[len("s%3A") :]
    last = signed[-1]
    return "s%3A" + signed[:-1] + ("A" if last != "A" else "B")


def truncated(value: str) -> str:
    return value[:-10]


def repadded(value: str) -> str:
    return value + "%3D"  # base64 padding the signer strips


BOGUS_COOKIES = {
    "tampered signature": lambda good, sid: f"{NAME}={tampered(good)}",
    "truncated signature": lambda good, sid: f"{NAME}={truncated(good)}",
    "re-padded signature": lambda good, sid: f"{NAME}={repadded(good)}",
    "no s: prefix": lambda good, sid: f"{NAME}={good[len('s%3A') :]}",
    "unsigned id": lambda good, sid: f"{NAME}={quote(sid)}",
    "bogus first of two": lambda good, sid: f"{NAME}=s%3Abogus.sig; {NAME}={good}",
    "oversized (over 4 KB)": lambda good, sid: f"{NAME}={good}{'A' * 5000}",
    "non-UTF-8 percent-encoding": lambda good, sid: f"{NAME}=s%3A%FF%FE.{good[-20:]}",
    "non-UTF-8 bytes": lambda good, sid: f"{NAME}=s:\xff\xfe{good[4:]}",
    "malformed percent-encoding": lambda good, sid: f"{NAME}=s%3A%E0%A4%A.{good[-20:]}",
    "empty value": lambda good, sid: f"{NAME}=",
    "signed with a removed secret": lambda good, sid: cookie_header(sid, secret="old secret"),
}


@pytest.fixture
def stored_sid(express, client) -> str:
    """A session in the store, with data, that the bogus cookies point at."""
    response = client.get("/set?v=stored")
    assert response.status_code == 200
    return sid_of(set_cookie(response))


@pytest.mark.parametrize("case", list(BOGUS_COOKIES))
def test_a_bogus_cookie_gets_a_new_unsaved_session(case, stored_sid, client, spy):
    good = signing.cookie_value(stored_sid, SECRET)
    calls = spy()

    response = client.get("/read", HTTP_COOKIE=BOGUS_COOKIES[case](good, stored_sid))

    assert response.status_code == 200
    assert response.json()["data"] == {}, "never the stored session"
    assert response.json()["id"] != stored_sid
    assert "set" not in calls.take(), "no store write for a bogus cookie"
    assert set_cookie(response) is None, "no cookie for an unsaved session"


def test_of_two_cookies_the_first_wins_as_in_express(stored_sid, client):
    good = signing.cookie_value(stored_sid, SECRET)
    response = client.get("/read", HTTP_COOKIE=f"{NAME}={good}; {NAME}=s%3Abogus.sig")
    assert response.json()["data"]["v"] == "stored"


@pytest.mark.parametrize(
    ("secrets", "loaded"),
    [(["new secret", "old secret"], True), (["new secret"], False)],
    ids=["rotated", "removed"],
)
def test_a_removed_secret_ends_its_sessions_and_a_rotated_one_keeps_them(
    secrets, loaded, express, client
):
    store = express(secret=secrets)
    store.set("signed-long-ago", stored_session({"v": "stored"}))

    response = client.get("/read", HTTP_COOKIE=cookie_header("signed-long-ago", "old secret"))

    assert response.status_code == 200
    assert response.json()["data"].get("v") == ("stored" if loaded else None)


def test_a_bogus_cookie_on_a_writing_request_starts_a_fresh_session(stored_sid, client):
    good = signing.cookie_value(stored_sid, SECRET)
    response = client.get("/set?w=new", HTTP_COOKIE=f"{NAME}={tampered(good)}")

    new_sid = sid_of(set_cookie(response))
    assert new_sid not in (None, stored_sid)
    assert conf.get_store().get(stored_sid)["v"] == "stored", "the real session is untouched"


# -- bad records in the store -------------------------------------------------------------


def plant(store: Store, sid: str, text: str) -> None:
    """Put ``text`` where ``store`` keeps the record of ``sid``, bypassing the codec."""
    name = store.name
    if name == "memory":
        from django_express_session.stores.memory import _Entry

        store._entries[sid] = _Entry(text, now_ms() + 60_000)
    elif name == "file":
        store.path.mkdir(parents=True, exist_ok=True)
        (store.path / f"{sid}{store.extension}").write_text(text)
    elif name == "redis":
        from django_redis import get_redis_connection

        get_redis_connection(store.alias).set(store.key(sid), text)
    elif name == "cache":
        store.items.set(store._key(sid), text, 60)
    elif name == "database":
        expire = timezone.now() + timedelta(hours=1)
        try:
            with transaction.atomic(using=store.alias), connections[store.alias].cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {connections[store.alias].ops.quote_name(store.table_name)} (sid, sess, expire) VALUES (%s, %s, %s)",
                    [sid, text, expire],
                )
        except DatabaseError as error:
            pytest.skip(f"the database refuses to hold it: {error}")
    elif name == "mongodb":
        document = {"_id": sid, "session": text, "expires": timezone.now() + timedelta(hours=1)}
        store._collection().insert_one(document)
    else:
        raise AssertionError(f"no way to plant a raw record in the {name} store")


def deeply_nested(depth: int = 100_000) -> str:
    return '{"cookie":{},"x":' + "[" * depth + "]" * depth + "}"


BAD_RECORDS = {
    "not JSON": "{not json",
    "a JSON array": "[1,2,3]",
    "a JSON string": '"cookie"',
    "no cookie key": '{"user":"alice"}',
    "cookie not an object": '{"cookie":"yes","user":"alice"}',
    "NaN": '{"cookie":{},"n":NaN}',
    "deeply nested": deeply_nested(),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_a_corrupt_record_is_logged_and_treated_as_missing(case, express, client, spy, caplog):
    store = conf.get_store()
    plant(store, "corrupt-record", BAD_RECORDS[case])
    calls = spy()

    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        response = client.get("/read", HTTP_COOKIE=cookie_header("corrupt-record"))

    assert response.status_code == 200
    assert response.json()["data"] == {}
    assert response.json()["id"] != "corrupt-record"
    assert "set" not in calls.take(), "the record is left alone, nothing new is saved"
    assert set_cookie(response) is None
    assert "treated as missing" in caplog.text


def test_a_write_over_a_corrupt_record_saves_a_new_session_beside_it(express, client):
    store = conf.get_store()
    plant(store, "corrupt-record", "{not json")

    response = client.get("/set?v=1", HTTP_COOKIE=cookie_header("corrupt-record"))

    new_sid = sid_of(set_cookie(response))
    assert new_sid not in (None, "corrupt-record")
    assert store.get(new_sid)["v"] == "1"


def test_a_huge_record_is_served(express, client):
    store = conf.get_store()
    huge = "x" * 800_000  # under memcached's 1 MB item limit
    store.set("huge-record", stored_session({"blob": huge}))

    response = client.get("/read", HTTP_COOKIE=cookie_header("huge-record"))

    assert response.status_code == 200
    assert response.json()["data"]["blob"] == huge


# -- session ids on the file store --------------------------------------------------------

HOSTILE_IDS = ["../outside", "../../etc/passwd", "..", ".", "a/b", "/abs", "x\x00y", "sub/../x"]


@pytest.fixture
def file_store(settings, tmp_path):
    settings.ROOT_URLCONF = "tests.urls"
    directory = tmp_path / "sessions"
    settings.EXPRESS_SESSION = {
        "secret": SECRET,
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "file", "options": {"path": str(directory)}},
    }
    # A valid record just outside the store, where "../outside" would lead.
    (tmp_path / "outside.json").write_text(
        record.dumps({**stored_session({"secret": "outside"}), "__lastAccess": now_ms()})
    )
    return directory


@pytest.mark.parametrize("sid", HOSTILE_IDS)
def test_hostile_ids_never_reach_outside_the_file_store(sid, file_store, client, tmp_path):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    read = client.get("/read", HTTP_COOKIE=cookie_header(sid))
    written = client.get("/set?v=1", HTTP_COOKIE=cookie_header(sid))

    assert read.status_code == 200
    assert read.json()["data"] == {}, "nothing outside the store is read"
    assert written.status_code == 200
    new_sid = sid_of(set_cookie(written))
    assert new_sid != sid, "the hostile id is never adopted"
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    created = {str(p) for p in set(after) - set(before)}
    assert all(path.startswith("sessions") for path in created), created


# -- genid --------------------------------------------------------------------------------


def returning(*values: Any):
    """A genid that returns ``values`` in turn, then fresh ids."""
    remaining = list(values)
    lock = threading.Lock()
    counter = iter(range(10**6))

    def genid(request):
        with lock:
            return remaining.pop(0) if remaining else f"fresh-{next(counter)}"

    return genid


@pytest.mark.parametrize("value", [42, None, b"bytes-id", "", ["list"]])
def test_a_genid_that_returns_no_string_is_logged_and_nothing_is_saved(
    value, express, client, spy, caplog
):
    express(genid=returning(*[value] * 10))
    calls = spy()

    with caplog.at_level(logging.ERROR, logger="django_express_session"):
        response = client.get("/set?v=1")

    assert response.status_code == 200
    assert set_cookie(response) is None
    assert "set" not in calls.take()
    assert "genid returned" in caplog.text


def test_a_genid_that_returns_an_id_in_use_gets_another_try(express, client, caplog):
    store = express(genid=returning("taken"))
    store.set("taken", stored_session({"owner": "someone else"}))

    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        response = client.get("/set?v=mine")

    assert sid_of(set_cookie(response)) == "fresh-0"
    assert store.get("taken")["owner"] == "someone else", "never overwritten"
    assert store.get("fresh-0")["v"] == "mine"
    assert "already in use" in caplog.text


def test_a_genid_that_keeps_returning_ids_in_use_gives_up_without_a_cookie(express, client, caplog):
    store = express(genid=returning(*["taken"] * 10))
    store.set("taken", stored_session({"owner": "someone else"}))

    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        response = client.get("/set?v=mine")

    assert response.status_code == 200
    assert set_cookie(response) is None
    assert store.get("taken")["owner"] == "someone else"
    assert "will not be saved" in caplog.text


def test_genid_that_collides_then_returns_a_non_string_saves_nothing(client, express, caplog):
    """A custom genid first returns an id in use, then garbage: logged, no 500, nothing
    overwritten, no cookie."""
    from tests.helpers import set_cookie, stored_session

    answers = iter(["taken-session-id-0123456789abcdef", "taken-session-id-0123456789abcdef", 42])
    store = express(genid=lambda request: next(answers))
    store.create("taken-session-id-0123456789abcdef", stored_session({"owner": "someone"}))
    response = client.get("/set?v=x")
    assert response.status_code == 200
    assert set_cookie(response) is None
    assert store.get("taken-session-id-0123456789abcdef")["owner"] == "someone"
    assert "not a string" in caplog.text
