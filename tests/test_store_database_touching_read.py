"""The database store's touching read on PostgreSQL: a returning visitor's read refreshes
``expire`` in the same statement (``UPDATE ... RETURNING``) when the stored
``cookie.originalMaxAge`` is the configured ``maxAge``, instead of a ``SELECT`` at the
start of the request and express's touch (an ``UPDATE``) at its end.

The fast path duplicates one rule of the session (what a touch writes), so every case
below runs both ways on two rows holding the same text: the fast path outside a
transaction, the slow path inside ``transaction.atomic`` (where the store only reads,
and the session touches at the end, by the record)."""

from __future__ import annotations

import json
import math
import time

import pytest
from django.db import transaction
from django.test import Client

from django_express_session import conf
from django_express_session.stores.database import DatabaseStore, Statement
from tests.helpers import cookie_header, stored_session, use_express_session
from tests.test_store_database_async import Statements, cookie

pytestmark = pytest.mark.django_db(transaction=True)

MAX_AGE_MS = 7_200_000  # two hours: neither the store's ttl (a day) nor the rows' hour


def configure(settings, alias: str, **options) -> DatabaseStore:
    use_express_session(
        settings,
        store={"backend": "database", "options": {"alias": alias}},
        cookie={"maxAge": MAX_AGE_MS},
        **options,
    )
    return conf.get_store()


@pytest.fixture
def pg_store(settings, postgres_alias):
    store = configure(settings, postgres_alias)
    yield store
    store.close()


def raw_cookie(**fields) -> str:
    """A stored cookie's JSON, written by hand (a number as Node or a hostile writer
    would spell it)."""
    return "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"


def record_text(cookie_json: str, data: str = '"n":1') -> str:
    return '{"cookie":' + cookie_json + ("," + data if data else "") + "}"


EXPIRES = '"2030-01-01T00:00:00.000Z"'
CASES = {
    "the configured maxAge": record_text(raw_cookie(originalMaxAge=MAX_AGE_MS, expires=EXPIRES)),
    "the configured maxAge spelled 7.2e6": record_text(raw_cookie(originalMaxAge="7.2e6")),
    "another maxAge": record_text(raw_cookie(originalMaxAge=3_600_000, expires=EXPIRES)),
    "a fraction of a ms more": record_text(raw_cookie(originalMaxAge="7200000.0000000001")),
    "maxAge as a string": record_text(raw_cookie(originalMaxAge='"7200000"')),
    "a browser-session cookie": record_text(raw_cookie(originalMaxAge="null", expires="null")),
    "no originalMaxAge": record_text(raw_cookie(expires=EXPIRES)),
    "duplicate keys, the configured last": record_text(
        '{"originalMaxAge":60000,"originalMaxAge":7200000}'
    ),
    "duplicate keys, the configured first": record_text(
        '{"originalMaxAge":7200000,"originalMaxAge":60000}'
    ),
    "originalMaxAge 1e400": record_text(raw_cookie(originalMaxAge="1e400")),
    "no cookie": '{"n":1}',
    "a cookie string": '{"cookie":"x","n":1}',
    "a list": "[1,2]",
    "a string": '"x"',
}
#: Records the session refuses although their cookie carries the configured maxAge: the
#: fast path has touched the row before Python could judge it (as Redis's GETEX does);
#: both paths refuse it, and neither writes it.
REFUSED_BUT_TOUCHED = {
    "hostile: nested 65 deep": record_text(
        raw_cookie(originalMaxAge=MAX_AGE_MS), '"x":' + "[" * 64 + "]" * 64
    ),
    "hostile: a data number 1e400": record_text(raw_cookie(originalMaxAge=MAX_AGE_MS), '"n":1e400'),
}


def put(store: DatabaseStore, sid: str, text: str, expire_s: int) -> None:
    statement = f"INSERT INTO {store.table} (sid, sess, expire) VALUES (%s, %s, {store.at})"
    store._execute(Statement(statement, (sid, text, *store.point(expire_s))))


def row(store: DatabaseStore, sid: str) -> tuple[str, int]:
    """A row's text and ``expire`` (epoch seconds)."""
    statement = f"SELECT sess::text, {store.expire_read} FROM {store.table} WHERE sid = %s"
    _, rows = store._execute(Statement(statement, (*store.expire_read_params, sid)))
    text, expire = rows[0]
    return text, int(expire)


def visit(sid: str, *, in_transaction: bool, alias: str):
    client = Client(HTTP_COOKIE=cookie_header(sid))
    if not in_transaction:
        return client.get("/read")
    with transaction.atomic(using=alias):
        return client.get("/read")


def outcome(response) -> tuple:
    body = json.loads(response.content)
    return response.status_code, body["data"], "connect.sid" in response.cookies


@pytest.mark.parametrize("case", [*CASES, *REFUSED_BUT_TOUCHED])
def test_the_fast_and_slow_paths_agree_over_the_same_records(pg_store, case):
    text = {**CASES, **REFUSED_BUT_TOUCHED}[case]
    held = math.ceil(time.time()) + 600  # ten minutes left: any touch moves it
    put(pg_store, "slow", text, held)
    put(pg_store, "fast", text, held)

    before = time.time()
    slow = visit("slow", in_transaction=True, alias=pg_store.alias)
    fast = visit("fast", in_transaction=False, alias=pg_store.alias)
    after = time.time()

    assert outcome(fast) == outcome(slow)
    (slow_text, slow_expire), (fast_text, fast_expire) = (
        row(pg_store, "slow"),
        row(pg_store, "fast"),
    )
    assert fast_text == slow_text == text  # a read never writes the record
    if case in REFUSED_BUT_TOUCHED:
        assert outcome(fast)[1] == {}  # refused: a new, empty session
        assert slow_expire == held
        seconds = MAX_AGE_MS / 1000
        assert math.ceil(before + seconds) <= fast_expire <= math.ceil(after + seconds)
        return
    # The same expiry, but for the moment each was written at.
    assert abs(fast_expire - slow_expire) <= math.ceil(after - before) + 1
    if slow_expire != held:
        assert fast_expire != held


def test_an_expired_row_is_neither_touched_nor_read(pg_store):
    text = CASES["the configured maxAge"]
    gone = math.ceil(time.time()) - 60
    put(pg_store, "old", text, gone)
    response = visit("old", in_transaction=False, alias=pg_store.alias)
    assert outcome(response)[1] == {}
    assert row(pg_store, "old") == (text, gone)


def test_no_view_access_is_one_statement_and_a_transaction_two(pg_store, monkeypatch):
    """express reads and touches a session the view ignores: one statement. Inside a
    transaction the store only reads (a touching read would hold the row's lock until
    the transaction ends, and a rollback would undo the touch): the SELECT, then the
    touch at the end, as without a ``maxAge``. (A read and a change:
    ``test_store_database_async``.)"""
    statements = Statements(monkeypatch, pg_store.alias)
    client = Client()
    client.cookies["connect.sid"] = cookie(client.get("/set", {"v": "1"}))
    with statements.counting() as seen:
        assert client.get("/noop").status_code == 200
    assert len(seen) == 1
    with statements.counting() as seen, transaction.atomic(using=pg_store.alias):
        assert client.get("/read").status_code == 200
    assert [sql.split()[0] for sql in seen if "session" in sql] == ["SELECT", "UPDATE"]


@pytest.mark.parametrize(
    "options",
    [{"touchAfter": 600}, {"absoluteMaxAge": 86_400_000}],
    ids=["touchAfter", "absoluteMaxAge"],
)
def test_where_a_touch_depends_on_more_than_the_record_a_read_only_reads(
    settings, postgres_alias, options
):
    store = configure(settings, postgres_alias, **options)
    store.set("sid-1", stored_session({"n": 1}, MAX_AGE_MS))
    assert not store.read("sid-1", touch=True).touched


def test_with_touching_off_a_read_only_reads(postgres_alias):
    from django_express_session.core.lifetime import Lifetime

    lifetime = Lifetime(max_age_ms=MAX_AGE_MS)
    store = DatabaseStore.from_options({"alias": postgres_alias}, lifetime=lifetime)
    quiet = DatabaseStore.from_options(
        {"alias": postgres_alias, "disableTouch": True}, lifetime=lifetime
    )
    store.set("sid-1", stored_session({"n": 1}, MAX_AGE_MS))
    assert store.read("sid-1", touch=True).touched
    assert not quiet.read("sid-1", touch=True).touched
    assert not store.read("sid-1", touch=False).touched
