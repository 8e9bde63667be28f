"""express-session's per-request decisions, cell by cell, on every store,
as measured on express-session 1.19.0 with its MemoryStore.

Each cell says whether a ``Set-Cookie`` is sent (and with a new id) and which store calls
the request makes, for one option set and one scenario:

* S1 no cookie, the handler does nothing;   S2 no cookie, the handler sets ``v='x'``;
* S3 a stored session ``{v:'x'}``, nothing; S5 the same value set again; S4 ``v='y'``;
* S6 a validly signed id that is not stored, nothing; S7 the same, a value set.
"""

from __future__ import annotations

import itertools

import pytest

from tests.helpers import cookie_header, set_cookie, sid_of, stored_session

SCENARIOS = ("S1", "S2", "S3", "S5", "S4", "S6", "S7")

# (resave, saveUninitialized, rolling, maxAge) -> one cell per scenario.
TABLE = {
    (
        True,
        True,
        False,
        60000,
    ): "SC+ set | SC+ set | SC- get,set | SC- get,set | SC+ get,set | SC+new get,set | SC+new get,set",
    (
        True,
        True,
        False,
        None,
    ): "SC+ set | SC+ set | SC- get,set | SC- get,set | SC- get,set | SC+new get,set | SC+new get,set",
    (
        True,
        True,
        True,
        "either",
    ): "SC+ set | SC+ set | SC+ get,set | SC+ get,set | SC+ get,set | SC+new get,set | SC+new get,set",
    (
        True,
        False,
        False,
        60000,
    ): "SC- - | SC+ set | SC- get,set | SC- get,set | SC+ get,set | SC- get | SC+new get,set",
    (
        True,
        False,
        False,
        None,
    ): "SC- - | SC+ set | SC- get,set | SC- get,set | SC- get,set | SC- get | SC+new get,set",
    (
        True,
        False,
        True,
        "either",
    ): "SC- - | SC+ set | SC+ get,set | SC+ get,set | SC+ get,set | SC- get | SC+new get,set",
    (
        False,
        True,
        False,
        60000,
    ): "SC+ set | SC+ set | SC- get,touch | SC- get,touch | SC+ get,set | SC+new get,set | SC+new get,set",
    (
        False,
        True,
        False,
        None,
    ): "SC+ set | SC+ set | SC- get,touch | SC- get,touch | SC- get,set | SC+new get,set | SC+new get,set",
    (
        False,
        True,
        True,
        "either",
    ): "SC+ set | SC+ set | SC+ get,touch | SC+ get,touch | SC+ get,set | SC+new get,set | SC+new get,set",
    (
        False,
        False,
        False,
        60000,
    ): "SC- - | SC+ set | SC- get,touch | SC- get,touch | SC+ get,set | SC- get | SC+new get,set",
    (
        False,
        False,
        False,
        None,
    ): "SC- - | SC+ set | SC- get,touch | SC- get,touch | SC- get,set | SC- get | SC+new get,set",
    (
        False,
        False,
        True,
        "either",
    ): "SC- - | SC+ set | SC+ get,touch | SC+ get,touch | SC+ get,set | SC- get | SC+new get,set",
}


def _cells():
    for (resave, save_uninitialized, rolling, max_age), row in TABLE.items():
        cells = [cell.strip() for cell in row.split("|")]
        for max_age_value in (60000, None) if max_age == "either" else (max_age,):
            for scenario, cell in zip(SCENARIOS, cells, strict=True):
                cookie, calls = cell.split(" ")
                options = (resave, save_uninitialized, rolling, max_age_value)
                label = "resave={} saveUninitialized={} rolling={} maxAge={}-{}".format(
                    *options, scenario
                )
                yield pytest.param(*options, scenario, cookie, calls, id=label)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "resave,save_uninitialized,rolling,max_age,scenario,expected_cookie,expected_calls",
    list(_cells()),
)
def test_truth_table(
    client,
    express,
    spy,
    resave,
    save_uninitialized,
    rolling,
    max_age,
    scenario,
    expected_cookie,
    expected_calls,
):
    cookie = {"maxAge": max_age} if max_age else {}
    store = express(
        resave=resave, saveUninitialized=save_uninitialized, rolling=rolling, cookie=cookie
    )
    sid = "stored-session-id-0123456789abcdef"
    headers = {}
    if scenario in ("S3", "S4", "S5"):
        store.create(sid, stored_session({"v": "x"}, max_age))
        headers["HTTP_COOKIE"] = cookie_header(sid)
    elif scenario in ("S6", "S7"):
        headers["HTTP_COOKIE"] = cookie_header("signed-but-not-stored-id-0123456")
    path = {"S1": "/noop", "S3": "/noop", "S6": "/noop", "S5": "/set?v=x", "S4": "/set?v=y"}.get(
        scenario, "/set?v=x"
    )
    calls = spy()

    response = client.get(path, **headers)

    assert response.status_code == 200
    line = set_cookie(response)
    if expected_cookie == "SC-":
        assert line is None
    else:
        sent_sid = sid_of(line)
        assert sent_sid is not None
        if expected_cookie == "SC+new" or scenario in ("S1", "S2"):
            assert sent_sid != sid
        else:
            assert sent_sid == sid
    assert calls.take() == ([] if expected_calls == "-" else expected_calls.split(","))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "resave,save_uninitialized", list(itertools.product([True, False], repeat=2))
)
def test_what_is_stored_is_what_the_handler_set(client, express, resave, save_uninitialized):
    store = express(resave=resave, saveUninitialized=save_uninitialized, cookie={"maxAge": 60000})
    response = client.get("/set?v=x&n=1")
    sid = sid_of(set_cookie(response))
    stored = store.get(sid)
    assert list(stored)[:3] == ["cookie", "v", "n"]
    assert stored["v"] == "x" and stored["n"] == "1"
    assert stored["cookie"]["originalMaxAge"] == 60000
    assert stored["cookie"]["httpOnly"] is True and stored["cookie"]["path"] == "/"

    client.get("/set?v=y", HTTP_COOKIE=cookie_header(sid))
    assert store.get(sid)["v"] == "y"
