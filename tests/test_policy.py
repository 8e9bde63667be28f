"""The session policy: what this app publishes, where each store keeps it, and what
``check`` reports when the Express app's policy differs (the interop suite does the
same with a real Express app publishing: ``tests/interop/test_policy.py``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from pathlib import Path

import pytest
from django.core import checks
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client, RequestFactory

from django_express_session import policy

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = {
    "secret": ["keyboard cat"],
    "resave": False,
    "saveUninitialized": False,
    "cookie": {"maxAge": 60_000},
}


def publish_express(store, **changes):
    """What the Node package publishes, written here as it would write it."""
    document = {**policy.of_options(express_options()), "side": "express", **changes}
    store.publish_policy("express", json.dumps(document))


def express_options():
    from django_express_session import conf

    return conf.get_options()


def reported(ids_only: bool = True):
    found = [
        m
        for m in checks.run_checks(databases=["default"])
        if m.id.startswith("django_express_session.W03")
    ]
    return sorted(m.id for m in found) if ids_only else found


def test_fingerprint_is_an_hmac_of_a_constant_keyed_by_the_secret():
    expected = hmac.new(b"keyboard cat", b"django-express-session policy", hashlib.sha256)
    assert policy.fingerprint("keyboard cat") == expected.hexdigest()
    assert policy.fingerprint(b"keyboard cat") == expected.hexdigest()
    assert "keyboard cat" not in policy.fingerprint("keyboard cat")


def test_each_store_keeps_both_sides_apart_from_the_sessions(express):
    store = express(**OPTIONS)
    if store.name == "memory":
        store.publish_policy("django", "{}")
        assert store.read_policy("django") is None  # no other app can read it
        return
    assert store.read_policy("express") is None
    store.publish_policy("django", '{"format": 1, "n": 1}')
    store.publish_policy("django", '{"format": 1, "n": 2}')  # replaced, not added
    store.publish_policy("express", '{"format": 1, "n": 3}')
    assert json.loads(store.read_policy("django"))["n"] == 2
    assert json.loads(store.read_policy("express"))["n"] == 3
    # Never a session: not listed, not counted (where the store can list at all).
    try:
        assert store.all() == {}
        assert store.length() == 0
    except NotImplementedError:
        pass


def test_matching_policies_report_nothing(express):
    store = express(**OPTIONS)
    publish_express(store)
    assert reported() == []


@pytest.mark.parametrize(
    ("express_side", "check_id"),
    [
        ({"name": "other.sid"}, "W030"),
        ({"secretFingerprints": [policy.fingerprint("another secret")]}, "W031"),
        ({"resave": True}, "W032"),
        ({"saveUninitialized": True}, "W033"),
        ({"rolling": True}, "W034"),
        ({"cookie": {"maxAge": 3_600_000}}, "W035"),
        ({"absoluteMaxAge": 86_400_000}, "W036"),
        ({"absoluteMaxAgeFrom": "login"}, "W036"),
        ({"touchAfter": 300}, "W037"),
        ({"passport": {"field": "username"}}, "W038"),
    ],
)
def test_each_mismatch_is_a_warning_with_what_to_change(
    settings, store_file, express_side, check_id
):
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_file}
    from django_express_session import conf

    publish_express(conf.get_store(), **express_side)
    found = reported(ids_only=False)
    # A secret known to one side only: each app rejects the other's cookies (two).
    assert len(found) == (2 if check_id == "W031" else 1)
    for warning in found:
        assert warning.id == f"django_express_session.{check_id}"
        assert warning.level == checks.WARNING
        assert "EXPRESS_SESSION" in warning.msg + warning.hint


def test_secrets_match_when_the_first_signing_secrets_are_equal(settings, store_file):
    settings.EXPRESS_SESSION = {**OPTIONS, "secret": ["new", "old"], "store": store_file}
    from django_express_session import conf

    # Express signs with the old secret and verifies the new one: both read each other.
    publish_express(
        conf.get_store(), secretFingerprints=[policy.fingerprint(s) for s in ("old", "new")]
    )
    assert reported() == []
    # Express knows only the old one: Django's cookies are rejected there.
    publish_express(conf.get_store(), secretFingerprints=[policy.fingerprint("old")])
    (warning,) = reported(ids_only=False)
    assert "the Express app rejects" in warning.msg


def test_a_setting_the_express_app_leaves_out_is_not_compared(settings, store_file):
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_file, "passport": {"field": "pk"}}
    from django_express_session import conf

    store = conf.get_store()
    document = policy.of_options(conf.get_options())
    for key in ("name", "secretFingerprints", "resave", "passport", "cookie"):
        del document[key]
    store.publish_policy("express", json.dumps({**document, "side": "express"}))
    assert reported() == []


def test_an_unreadable_policy_is_reported_as_such(settings, store_file):
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_file}
    from django_express_session import conf

    conf.get_store().publish_policy("express", "not json")
    (warning,) = [
        m for m in checks.run_checks(databases=["default"]) if m.id == "django_express_session.W039"
    ]
    assert "not JSON" in warning.msg
    conf.get_store().publish_policy("express", '{"format": 2}')
    (warning,) = [
        m for m in checks.run_checks(databases=["default"]) if m.id == "django_express_session.W039"
    ]
    assert "format is 2" in warning.msg


def published_in_time(store, timeout: float = 10) -> None:
    """The first request publishes (and compares) in a thread of its own: wait for it."""
    until = time.monotonic() + timeout
    while any(thread.name == "express-session-policy" for thread in threading.enumerate()):
        assert time.monotonic() < until, "the policy was not published in time"
        time.sleep(0.05)


def serve(path: str = "/") -> int:
    """One request through Django's WSGI handler, as a server sends it."""
    environ = RequestFactory().get(path).environ
    statuses = []
    WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    return int(statuses[0].split()[0])


def test_the_first_request_publishes_and_logs_each_mismatch(settings, store_file, caplog):
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_file}
    settings.ROOT_URLCONF = "tests.urls"
    from django_express_session import conf

    store = conf.get_store()
    publish_express(store, rolling=True)
    assert store.read_policy("django") is None  # not at start-up, not by check
    Client().get("/noop")
    published_in_time(store)
    assert store.read_policy("django") is None  # nor for the test client
    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        assert serve("/noop") == 200
        assert serve("/noop") == 200
        published_in_time(store)
    published = json.loads(store.read_policy("django"))
    assert published["side"] == "django"
    assert published["secretFingerprints"] == [policy.fingerprint("keyboard cat")]
    assert published["cookie"] == {"maxAge": 60_000}
    assert "keyboard cat" not in store.read_policy("django")
    logged = [r.getMessage() for r in caplog.records if "rolling" in r.getMessage()]
    assert len(logged) == 1 and "W034" in logged[0]  # once per process and store


def test_a_store_built_by_a_settings_change_is_published_to_on_its_first_request(
    settings, store_file, tmp_path
):
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_file}
    settings.ROOT_URLCONF = "tests.urls"
    from django_express_session import conf

    assert serve("/noop") == 200
    published_in_time(conf.get_store())
    assert conf.get_store().read_policy("django") is not None
    another = {"backend": "file", "options": {"path": str(tmp_path / "another")}}
    settings.EXPRESS_SESSION = {**OPTIONS, "store": another}
    store = conf.get_store()
    assert store.read_policy("django") is None
    assert serve("/noop") == 200
    published_in_time(store)
    assert json.loads(store.read_policy("django"))["side"] == "django"


def test_a_failed_publication_costs_the_first_request_nothing(settings, store_file, caplog):
    """Publishing runs beside the request: a failure is logged, the request served."""
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_file}
    settings.ROOT_URLCONF = "tests.urls"
    blocked = Path(store_file["options"]["path"]).with_name("sessions.policy.django.json")
    blocked.mkdir(parents=True)  # a directory where the file goes: the rename fails
    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        assert serve("/noop") == 200
        until = time.monotonic() + 10
        while not any("not published" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < until
            time.sleep(0.05)


def test_the_database_store_is_read_only_for_check_database(settings, store_database_postgres):
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store_database_postgres}
    from django_express_session import conf

    alias = store_database_postgres["options"]["alias"]
    publish_express(conf.get_store(), rolling=True)
    ids = [m.id for m in checks.run_checks() if m.id.startswith("django_express_session.W03")]
    assert ids == []  # plain check: no query, as Django's own database checks
    ids = [
        m.id
        for m in checks.run_checks(databases=[alias])
        if m.id.startswith("django_express_session.W03")
    ]
    assert ids == ["django_express_session.W034"]
