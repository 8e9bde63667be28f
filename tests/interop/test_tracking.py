"""Client details (``track``, on the Django app only) with the real Express app on every
shared store: the Express app carries the ``djangoExpressSession`` dict through its own
writes untouched, and ``written_by`` then says the record was last written there."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string

from django_express_session import conf
from django_express_session.core.state import OWN_KEY
from django_express_session.tracking import written_by
from tests.node import store_call

pytestmark = pytest.mark.interop


def stored(store, sid: str) -> dict:
    """The record as the real express store returns it."""
    (record,) = store_call(store.node["kind"], store.node["options"], {"op": "get", "sid": sid})
    return record


def writer(store, record: dict) -> str | None:
    backend = import_string(conf.STORE_BACKENDS[store.django["backend"]])
    return written_by(record, backend.metadata_keys)


def touch_verdict(written: dict, touched: dict) -> str:
    """What ``written_by`` must say of a record Django wrote (``written``) once the
    Express app touched it. Most express stores touch the expiry alone: "django". Where
    the touch rewrites the whole record (connect-memcached's is a ``set``), express-session's
    touch stores ``cookie.originalMaxAge`` as the new expiry minus ``Date.now()``, one
    millisecond short when the clock ticks between the two (its ``expires`` setter): the
    contents then changed, and the verdict is "express"."""
    drift = written["cookie"]["originalMaxAge"] - touched["cookie"]["originalMaxAge"]
    assert drift in (0, 1), drift
    return "express" if drift else "django"


def test_the_client_details_survive_an_express_write_which_written_by_then_tells(
    shared_store, apps, browser
):
    pair = apps(shared_store, django={"track": ["ip", "userAgent"]})
    sid = browser.get(pair.django, "/set", color="blue").body["id"]
    first = stored(shared_store, sid)
    details = first[OWN_KEY]
    assert details["ip"] == "127.0.0.1"
    assert details["userAgent"].startswith("Python-urllib/")
    assert details["createdAt"] == details["lastSeenAt"]
    assert writer(shared_store, first) == "django"

    # The Express app only touches (resave false, nothing changed): no write of its own.
    assert browser.get(pair.node, "/touch").body["id"] == sid
    touched = stored(shared_store, sid)
    assert writer(shared_store, touched) == touch_verdict(first, touched)

    assert browser.get(pair.node, "/set", size="L").body["data"]["size"] == "L"
    rewritten = stored(shared_store, sid)
    assert rewritten[OWN_KEY] == details  # carried through untouched
    assert writer(shared_store, rewritten) == "express"

    browser.get(pair.django, "/set", color="red")
    again = stored(shared_store, sid)
    assert again["size"] == "L" and again["color"] == "red"
    assert again[OWN_KEY]["createdAt"] == details["createdAt"]
    assert writer(shared_store, again) == "django"
