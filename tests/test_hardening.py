"""A stored record is untrusted input: stores are shared with Node apps and with anything
that can write to Redis, the database or the sessions directory. Nothing in a record may
crash a request, reach a response header unchecked, or be turned into code."""

from __future__ import annotations

import logging

import pytest

from django_express_session import conf, record
from django_express_session.cookie import Cookie, attribute_problem
from django_express_session.exceptions import CorruptRecord
from django_express_session.record import now_ms
from tests.helpers import cookie_header, set_cookie, stored_session, use_express_session, user_data
from tests.test_bad_input import plant

pytestmark = pytest.mark.django_db


def store_name() -> str:
    return conf.get_store().name


# -- records that parse but would crash later -----------------------------------------------


def with_cookie(**cookie) -> str:
    session = {"cookie": {"path": "/", "httpOnly": True, **cookie}, "user": "alice"}
    return record.dumps({**session, "__lastAccess": now_ms()})  # the file store's


def raw_with_original_max_age(literal: str) -> str:
    # json.dumps cannot write 1e400: it is the text a hostile or buggy writer would leave.
    return '{"cookie":{"originalMaxAge":' + literal + ',"expires":null,"path":"/"},"user":"alice"}'


REFUSED_RECORDS = {
    "nested 1 000 deep": '{"cookie":{},"x":' + "[" * 1000 + "]" * 1000 + "}",
    "nested 65 deep": '{"cookie":{},"x":' + "[" * 64 + "]" * 64 + "}",
    "originalMaxAge 1e17": raw_with_original_max_age("1e17"),
    "originalMaxAge 1e300": raw_with_original_max_age("1e300"),
    "originalMaxAge 1e400": raw_with_original_max_age("1e400"),
    "originalMaxAge -1e400": raw_with_original_max_age("-1e400"),
    "a data number 1e400": '{"cookie":{"path":"/"},"n":1e400}',
    "expires past Node's range": with_cookie(
        originalMaxAge=None, expires="+275761-01-01T00:00:00.000Z"
    ),
    "expires unparsable": with_cookie(originalMaxAge=None, expires="next tuesday"),
}


@pytest.mark.parametrize("case", list(REFUSED_RECORDS))
def test_a_record_outside_the_decoders_limits_is_treated_as_missing(case, express, client, caplog):
    store = conf.get_store()
    plant(store, "odd-record", REFUSED_RECORDS[case])

    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        read = client.get("/read", HTTP_COOKIE=cookie_header("odd-record"))
        written = client.get("/set?v=1", HTTP_COOKIE=cookie_header("odd-record"))

    assert read.status_code == 200
    assert read.json()["data"] == {}
    assert "treated as missing" in caplog.text
    assert written.status_code == 200, "a write replaces it by a new session, no 500"


FAR_FUTURE = {
    # What Node stores for maxAge 1e15: a valid Date (year 33658), beyond Python's datetime.
    "originalMaxAge 1e15, Node's expires": with_cookie(
        originalMaxAge=1e15, expires="+033658-09-27T01:46:40.000Z"
    ),
    "originalMaxAge -8.64e15": with_cookie(originalMaxAge=-8.64e15 + 1, expires=None),
    "expires in year 10000 once in UTC": with_cookie(
        originalMaxAge=None, expires="9999-12-31T23:00:00.000-05:00"
    ),
}


@pytest.mark.parametrize("case", list(FAR_FUTURE))
@pytest.mark.parametrize("resave", [False, True])
def test_a_date_node_accepts_beyond_pythons_range_is_clamped(case, resave, express, client):
    express(resave=resave)
    store = conf.get_store()
    plant(store, "far-record", FAR_FUTURE[case])

    response = client.get("/read", HTTP_COOKIE=cookie_header("far-record"))

    assert response.status_code == 200
    if "-8.64e15" in case:
        return  # expired long ago: a new session, and no 500
    assert user_data(response.json()["data"]) == {"user": "alice"}
    written = client.get("/set?v=1", HTTP_COOKIE=cookie_header("far-record"))
    assert written.status_code == 200
    if "1e15" in case:  # touched: now + 1e15 ms, clamped
        assert "Expires=Fri, 31 Dec 9999 23:59:59 GMT" in set_cookie(written)
        assert conf.get_store().get("far-record")["cookie"]["expires"] == "9999-12-31T23:59:59.000Z"


def test_a_file_store_last_access_of_1e400_is_treated_as_missing(tmp_path, settings, client):
    use_express_session(
        settings, store={"backend": "file", "options": {"path": str(tmp_path / "sessions")}}
    )
    store = conf.get_store()
    text = record.dumps(stored_session({"user": "alice"}))
    plant(store, "last-access", text[:-1] + ',"__lastAccess":1e400}')

    read = client.get("/read", HTTP_COOKIE=cookie_header("last-access"))
    written = client.get("/set?v=1", HTTP_COOKIE=cookie_header("last-access"))

    assert read.status_code == 200 and read.json()["data"] == {}
    assert written.status_code == 200


@pytest.mark.parametrize("depth", [64, 65])
def test_the_depth_limit_is_64_on_read_and_on_write(depth):
    nested: list = []
    for _ in range(depth - 2):  # the record object is one level, the list another
        nested = [nested]
    session = {"cookie": {}, "x": nested}
    text = '{"cookie":{},"x":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    assert record.dumps(session) == text if depth <= 64 else True
    if depth <= 64:
        assert record.loads(text) == session
    else:
        with pytest.raises(CorruptRecord, match="nested"):
            record.loads(text)
        with pytest.raises(ValueError, match="nested"):
            record.dumps(session)


# What ``node -e 'console.log(JSON.stringify(value))'`` prints (Node 20).
JSON_STRINGIFY = [
    (1e-7, "1e-7"),
    (1.5e-7, "1.5e-7"),
    (1e21, "1e+21"),
    (1.2345e21, "1.2345e+21"),
    (-0.0, "0"),
    (123.456, "123.456"),
    (0.1, "0.1"),
    (1e-6, "0.000001"),
    (0.000001234, "0.000001234"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (-1e-7, "-1e-7"),
    (float(2**53 + 2), "9007199254740994"),
    (1e20, "100000000000000000000"),
    (0.5, "0.5"),
    (1.1e-5, "0.000011"),
    (
        {"a": [1e-7, {"é": -2.5e-8}], "k\u2028": '\x00😀"\\'},
        '{"a":[1e-7,{"é":-2.5e-8}],"k\u2028":"\\u0000😀\\"\\\\"}',
    ),
    ([1e300, -1e-300, 1e21, 0.0001, 0.00001], "[1e+300,-1e-300,1e+21,0.0001,0.00001]"),
    ({"n": float("nan"), "i": float("inf")}, '{"n":null,"i":null}'),
]


# Past 2**53 an integral float is written as its exact integer (123456789012345683968 where
# Node prints 123456789012345680000): both texts read back as the same double in Node, and
# the exact one reads back equal in Python too.


@pytest.mark.parametrize(("value", "expected"), JSON_STRINGIFY)
def test_dumps_prints_what_json_stringify_prints(value, expected):
    assert record.dumps(value) == expected


# -- Set-Cookie attributes from a stored record (CVE-2024-47764 in cookie < 0.7.0) ---------

INJECTED = "\r\nX-Injected: yes"
HOSTILE_ATTRIBUTES = {
    "path": "/; Domain=example.com; SameSite=None" + INJECTED,
    "domain": "example.com; Secure" + INJECTED,
    "sameSite": "None" + INJECTED,
    "priority": "High; Domain=evil.example",
    "secure": "yes; Domain=evil.example",
    "httpOnly": "no\r\nX: y",
    "partitioned": ["Partitioned; Domain=evil.example"],
}


def future_cookie(**attributes) -> dict:
    return {**stored_session({})["cookie"], **attributes}


@pytest.mark.parametrize("attribute", list(HOSTILE_ATTRIBUTES))
def test_a_stored_cookie_attribute_never_reaches_set_cookie_unchecked(
    attribute, express, client, caplog
):
    store = conf.get_store()
    cookie = future_cookie(**{attribute: HOSTILE_ATTRIBUTES[attribute]})
    text = record.dumps({"cookie": cookie, "user": "alice", "__lastAccess": now_ms()})
    plant(store, "injected-record-0123456789", text)

    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        response = client.get("/set?v=1", HTTP_COOKIE=cookie_header("injected-record-0123456789"))

    assert response.status_code == 200
    line = set_cookie(response)
    assert "\r" not in line and "\n" not in line and "X-Injected" not in line
    assert "evil" not in line and "Domain" not in line and "SameSite" not in line
    attributes = [part.split("=")[0] for part in line.split("; ")[1:]]
    assert attributes == ["Path", "Expires", "HttpOnly"], line  # what the options give
    assert "Path=/;" in line
    assert f"cookie.{attribute}" in caplog.text and "using the configured value" in caplog.text
    assert "injected-record-0123456789" not in caplog.text
    saved = store.get("injected-record-0123456789")
    assert user_data(saved) == {"cookie": saved["cookie"], "user": "alice", "v": "1"}, "kept"
    assert attribute_problem(attribute, saved["cookie"].get(attribute)) is None, "and repaired"


def test_the_configured_value_replaces_a_bad_stored_one(express, client):
    express(cookie={"path": "/", "domain": "example.test", "sameSite": "lax", "maxAge": 60_000})
    store = conf.get_store()
    cookie = future_cookie(domain="example.test\r\nX: y", sameSite="lax; Domain=evil")
    plant(store, "configured-0123", record.dumps({"cookie": cookie, "__lastAccess": now_ms()}))

    response = client.get("/set?v=1", HTTP_COOKIE=cookie_header("configured-0123"))

    line = set_cookie(response)
    assert "Domain=example.test; Path=/;" in line and line.endswith("SameSite=Lax")


def test_the_warning_names_the_session_by_a_short_hint(caplog):
    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        cookie = Cookie.from_json({"path": "/x\r\nX: y"}, sid="abcdefghijklmnop")
    assert cookie.path == "/"
    assert "session abcdef…: stored cookie.path" in caplog.text
    assert "abcdefghijklmnop" not in caplog.text


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("path", "/a;b"), ("path", "/\n"), ("domain", "a b"), ("domain", "-x.com")],
)
def test_serialize_refuses_what_code_set_as_cookie_0_7_2_does(attribute, value):
    cookie = Cookie()
    setattr(cookie, attribute, value)
    with pytest.raises(ValueError):
        cookie.serialize("connect.sid", "v")


@pytest.mark.parametrize("name", ["a(b", "sid\x01", "na\u00efve", "a:b"])
def test_a_cookie_name_is_a_token(name, settings):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="name"):
        conf.parse({"secret": "s", "name": name})


@pytest.mark.parametrize(
    ("value", "valid"),
    [("example.com", True), (".example.com", True), ("localhost", True), ("a-b.c", True),
     ("example.com.", False), ("ex_ample.com", False), ("a..b", False), ("-a.com", False),
     ("x" * 64 + ".com", False), ("example.com;", False)],
)  # fmt: skip
def test_domains_follow_cookie_0_7_2(value, valid):
    assert (attribute_problem("domain", value) is None) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("/", True), ("/a b/c~", True), ("/a;b", False), ("/a<b", False), ("/\x7f", False),
     ("/é", False), ("/\t", False)],
)  # fmt: skip
def test_paths_follow_cookie_0_7_2(value, valid):
    assert (attribute_problem("path", value) is None) is valid


# -- the file store: permissions, symlinks, a missing directory -----------------------------


def file_store(tmp_path, **options):
    from django_express_session.stores.file import FileStore

    return FileStore.from_options({"path": tmp_path / "sessions", "reapInterval": -1, **options})


def mode_of(path) -> int:
    import os
    import stat

    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize(
    ("options", "file_mode", "directory_mode"),
    [({}, 0o600, 0o700), ({"mode": 0o640}, 0o640, 0o750), ({"mode": 0o660}, 0o660, 0o770)],
)
def test_session_files_are_private_by_default(options, file_mode, directory_mode, tmp_path):
    import os

    old_umask = os.umask(0o022)  # a usual umask: it must not decide the modes
    try:
        store = file_store(tmp_path, **options)
        store.create("private", stored_session({"user": "alice"}))
        store.set("private", stored_session({"user": "bob"}))
    finally:
        os.umask(old_umask)
    directory = tmp_path / "sessions"
    assert mode_of(directory / "private.json") == file_mode
    assert mode_of(directory) == directory_mode
    assert mode_of(directory / ".locks") == directory_mode
    assert {mode_of(lock) for lock in (directory / ".locks").iterdir()} == {file_mode}


@pytest.mark.parametrize("mode", [0o400, 0o1600, "0600", True, 0o200])
def test_the_mode_option_must_let_the_owner_read_and_write(mode, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="mode"):
        file_store(tmp_path, mode=mode)


def planted_symlink(tmp_path, link):
    target = tmp_path / "target.txt"
    target.write_text("untouched")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return target


def test_a_symlink_at_the_session_file_is_never_read_nor_written_through(tmp_path):
    store = file_store(tmp_path)
    store.set("other", stored_session({}))  # the directory exists
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(
        record.dumps({**stored_session({"user": "alice"}), "__lastAccess": now_ms()})
    )
    (tmp_path / "sessions" / "linked.json").symlink_to(elsewhere)
    before = elsewhere.read_text()

    with pytest.raises(CorruptRecord, match="symbolic link"):
        store.read("linked")
    store.set("linked", stored_session({"user": "mallory"}))

    assert elsewhere.read_text() == before, "the target is untouched"
    assert not (tmp_path / "sessions" / "linked.json").is_symlink(), "the link was replaced"
    assert store.get("linked")["user"] == "mallory"


def test_a_symlink_at_a_lock_file_is_never_written_through(tmp_path):
    import zlib

    from django_express_session.stores.file import LOCK_STRIPES

    store = file_store(tmp_path)
    store.set("other", stored_session({}))
    stripe = zlib.crc32(b"victim") % LOCK_STRIPES
    lock = tmp_path / "sessions" / ".locks" / f"{stripe}.lock"
    lock.unlink(missing_ok=True)
    target = planted_symlink(tmp_path, lock)

    with pytest.raises(OSError):
        store.create("victim", stored_session({}))
    assert target.read_text() == "untouched"


def test_a_symlink_at_the_old_temporary_name_is_never_written_through(tmp_path):
    import os
    import threading

    store = file_store(tmp_path)
    store.set("other", stored_session({}))
    old_name = f".victim.{os.getpid()}.{threading.get_ident()}.tmp"  # the former, guessable one
    target = planted_symlink(tmp_path, tmp_path / "sessions" / old_name)

    store.set("victim", stored_session({"user": "alice"}))

    assert target.read_text() == "untouched"
    assert store.get("victim")["user"] == "alice"


def test_a_temporary_file_is_created_exclusively_and_never_through_a_symlink(tmp_path, monkeypatch):
    import secrets

    store = file_store(tmp_path)
    store.set("other", stored_session({}))
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "guessed")
    target = planted_symlink(tmp_path, tmp_path / "sessions" / ".victim.guessed.tmp")

    with pytest.raises(FileExistsError):
        store.create("victim", stored_session({"user": "alice"}))
    assert target.read_text() == "untouched"


def test_prune_does_not_follow_a_symlink(tmp_path):
    import os

    store = file_store(tmp_path)
    store.set("other", stored_session({}))
    target = planted_symlink(tmp_path, tmp_path / "sessions" / "linked.json")
    os.utime(target, (0, 0))

    store.prune()

    assert target.read_text() == "untouched"


def test_a_missing_sessions_directory_is_an_outage_not_a_logout(tmp_path, settings, client):
    import shutil

    use_express_session(
        settings, store={"backend": "file", "options": {"path": str(tmp_path / "sessions")}}
    )
    store = conf.get_store()
    store.set("logged-in", stored_session({"user": "alice"}))
    assert client.get("/read", HTTP_COOKIE=cookie_header("logged-in")).json()["data"]
    shutil.rmtree(tmp_path / "sessions")

    with pytest.raises(OSError):
        store.read("logged-in")
    read = client.get("/read", HTTP_COOKIE=cookie_header("logged-in"))

    assert read.status_code == 503
    assert set_cookie(read) is None, "the cookie is kept"
    assert not (tmp_path / "sessions").exists(), "and the directory is not recreated empty"


def test_a_store_whose_directory_does_not_exist_yet_creates_it_on_first_use(tmp_path):
    store = file_store(tmp_path)
    assert store.read("nobody") is None
    assert (tmp_path / "sessions").is_dir()


# -- the default secret ---------------------------------------------------------------------


def test_the_default_secret_is_derived_from_secret_key_and_survives_rotation(
    settings, client, tmp_path
):
    from tests.helpers import sid_of

    settings.ROOT_URLCONF = "tests.urls"
    settings.EXPRESS_SESSION = {  # a store that outlives the settings change
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "file", "options": {"path": str(tmp_path / "sessions")}},
    }
    settings.SECRET_KEY = "the-current-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []
    response = client.get("/set?v=signed-by-default")
    assert sid_of(set_cookie(response), secrets=conf.get_options().secrets) is not None
    cookie = f"connect.sid={response.cookies['connect.sid'].value}"

    # The key is rotated: the old one moves to the fallbacks.
    settings.SECRET_KEY = "the-next-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["the-current-key-" + "x" * 40]
    rotated = client.get("/read", HTTP_COOKIE=cookie)
    settings.SECRET_KEY_FALLBACKS = []
    dropped = client.get("/read", HTTP_COOKIE=cookie)

    assert user_data(rotated.json()["data"]) == {"v": "signed-by-default"}
    assert dropped.json()["data"] == {}


def test_the_raw_secret_key_no_longer_signs(settings, express, client):
    settings.SECRET_KEY = "the-current-key-" + "x" * 40
    store = express(secret=None)
    store.create("keyed-session", stored_session({"v": "x"}))

    forged = client.get("/read", HTTP_COOKIE=cookie_header("keyed-session", settings.SECRET_KEY))
    derived = client.get(
        "/read", HTTP_COOKIE=cookie_header("keyed-session", conf.derive_secret(settings.SECRET_KEY))
    )

    assert forged.json()["data"] == {}
    assert user_data(derived.json()["data"]) == {"v": "x"}
    assert settings.SECRET_KEY not in conf.get_options().secrets


def test_an_explicit_secret_is_used_as_given(express):
    express(secret=["shared with node", "older"])
    assert conf.get_options().secrets == ("shared with node", "older")


# -- secrets on Django's technical 500 page -------------------------------------------------

SHOWN_SECRET = "keyboard" + " cat"  # so the source lines on the page do not show it
OLDER_SECRET = "an older" + " secret"


def boom(request):
    request.session["touched"] = True
    raise RuntimeError("a bug in a view")


def secret_in_signing(request):
    from django_express_session import signing

    return signing.sign(None, conf.get_options().secrets[0])  # fails inside sign()


def boom_with_options(request):
    options = conf.get_options()  # any frame that holds the options, as middleware's do
    raise RuntimeError(f"a bug in a view using {options.name}")


urlpatterns = [
    __import__("django.urls").urls.path("boom-with-options", boom_with_options),
    __import__("django.urls").urls.path("boom", boom),
    __import__("django.urls").urls.path("boom-in-signing", secret_in_signing),
]


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("url", ["/boom", "/boom-with-options", "/boom-in-signing"])
def test_the_secret_is_not_on_the_debug_500_page_nor_in_error_reports(
    url, debug, settings, tmp_path
):
    import sys

    from django.core.signals import got_request_exception
    from django.test import Client
    from django.views.debug import ExceptionReporter

    settings.DEBUG = debug
    settings.ROOT_URLCONF = __name__
    settings.EXPRESS_SESSION = {
        "secret": [SHOWN_SECRET, OLDER_SECRET],
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "file", "options": {"path": str(tmp_path / "sessions")}},
    }
    reports = []

    def report(sender, request, **kwargs):
        reporter = ExceptionReporter(request, *sys.exc_info())
        reports.append(reporter.get_traceback_text())
        reports.append(reporter.get_traceback_html())

    got_request_exception.connect(report)
    try:
        response = Client(raise_request_exception=False).get(url)
    finally:
        got_request_exception.disconnect(report)

    assert response.status_code == 500
    assert len(reports) == 2 and "Local vars" in reports[1]
    for text in [*reports, response.content.decode()]:
        assert SHOWN_SECRET not in text
        assert OLDER_SECRET not in text


# -- log lines name sessions by a hint ------------------------------------------------------

LONG_SID = "SeCrEtSeSsIoNiD-0123456789abcdefghij"


def test_a_corrupt_cache_item_is_logged_without_the_whole_id(settings, client, caplog):
    import uuid

    from django.core.cache import caches

    settings.ROOT_URLCONF = "tests.urls"
    settings.CACHES = {
        **settings.CACHES,
        "hint": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": str(uuid.uuid4()),
        },
    }
    settings.EXPRESS_SESSION = {
        "secret": "keyboard cat",
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "cache", "options": {"alias": "hint", "prefix": "sess:"}},
    }
    caches["hint"].set("sess:" + LONG_SID, b"not text")

    with caplog.at_level(logging.DEBUG, logger="django_express_session"):
        response = client.get("/read", HTTP_COOKIE=cookie_header(LONG_SID))

    assert response.status_code == 200 and response.json()["data"] == {}
    assert "treated as missing" in caplog.text
    assert LONG_SID[:6] + "…" in caplog.text
    assert all(LONG_SID not in line.getMessage() for line in caplog.records)


def test_a_failing_disk_is_logged_without_the_whole_id(
    settings, client, caplog, tmp_path, monkeypatch
):
    import errno
    import os

    use_express_session(
        settings,
        genid=lambda request: LONG_SID,
        store={"backend": "file", "options": {"path": str(tmp_path / "sessions")}},
    )

    def failing_replace(source, destination):
        raise OSError(errno.EIO, "Input/output error", str(source), None, str(destination))

    monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.setattr(os, "link", failing_replace)
    with caplog.at_level(logging.DEBUG, logger="django_express_session"):
        response = client.get("/set?v=1")

    assert response.status_code == 503
    assert "Input/output error" in caplog.text
    assert all(LONG_SID not in line.getMessage() for line in caplog.records)


def test_a_hostile_id_is_logged_by_a_hint(settings, client, caplog, tmp_path):
    use_express_session(
        settings,
        genid=lambda request: "../" + LONG_SID,
        store={"backend": "file", "options": {"path": str(tmp_path / "sessions")}},
    )
    with caplog.at_level(logging.DEBUG, logger="django_express_session"):
        response = client.get("/set?v=1")

    assert response.status_code == 200
    assert "cannot be a session file name" in caplog.text
    assert all(LONG_SID[:10] not in line.getMessage() for line in caplog.records)


# -- check --deploy -------------------------------------------------------------------------

STRONG = "Xr4" * 11
SAFE_DEPLOY = {
    "secret": STRONG,
    "cookie": {"secure": True, "sameSite": "lax"},
    "store": {"backend": "file", "options": {"path": "/tmp/x"}},
}


def deploy_ids(settings, **overrides) -> list[str]:
    from django_express_session.checks import check_deploy

    settings.EXPRESS_SESSION = {**SAFE_DEPLOY, **overrides}
    return [warning.id for warning in check_deploy()]


def test_a_safe_deploy_has_no_warning(settings):
    assert deploy_ids(settings) == []
    assert deploy_ids(settings, secret=None) == [], "the derived default is strong"


@pytest.mark.parametrize(
    "secret", ["keyboard cat", "secret", "Keyboard Cat", "x" * 31, b"short", [STRONG, "secret"]]
)
def test_a_short_or_well_known_secret_is_a_deploy_warning(secret, settings):
    from django_express_session.checks import check_deploy

    assert deploy_ids(settings, secret=secret) == ["django_express_session.W013"]
    assert "32" in check_deploy()[0].hint


def test_same_site_left_unset_is_a_deploy_warning(settings):
    assert deploy_ids(settings, cookie={"secure": True}) == ["django_express_session.W014"]
    assert deploy_ids(settings, cookie={"secure": True, "sameSite": "strict"}) == []


@pytest.mark.parametrize(
    ("proxy", "header", "warned"),
    [(None, None, True), (False, None, True), (True, None, False),
     (None, ("HTTP_X_FORWARDED_PROTO", "https"), False)],
)  # fmt: skip
def test_secure_auto_without_a_way_to_see_https_is_a_deploy_warning(
    proxy, header, warned, settings
):
    settings.SECURE_PROXY_SSL_HEADER = header
    ids = deploy_ids(settings, cookie={"secure": "auto", "sameSite": "lax"}, proxy=proxy)
    assert ids == (["django_express_session.W015"] if warned else [])


@pytest.mark.parametrize(
    ("proxy", "header", "warned"),
    [(None, None, True), (False, None, False), (True, None, False),
     (None, ("HTTP_X_FORWARDED_PROTO", "https"), False)],
)  # fmt: skip
def test_tracking_ips_without_a_word_on_the_proxy_is_a_deploy_warning(
    proxy, header, warned, settings
):
    settings.SECURE_PROXY_SSL_HEADER = header
    ids = deploy_ids(settings, track=["ip", "userAgent"], proxy=proxy)
    assert ids == (["django_express_session.W018"] if warned else [])
    assert deploy_ids(settings, track=["userAgent"], proxy=proxy) == []


def test_deploy_warnings_have_hints(settings):
    from django_express_session.checks import check_deploy

    settings.EXPRESS_SESSION = {"secret": "keyboard cat", "cookie": {"secure": "auto"}}
    warnings = check_deploy()
    assert {"django_express_session.W013", "django_express_session.W014",
            "django_express_session.W015"} <= {w.id for w in warnings}  # fmt: skip
    assert all(warning.hint for warning in warnings)
    assert all("keyboard cat" not in f"{warning.msg} {warning.hint}" for warning in warnings)


# -- the memory store under a flood of anonymous visitors -----------------------------------


def test_a_flood_of_empty_sessions_does_not_evict_sessions_with_data():
    from django_express_session.stores.memory import MemoryStore

    store = MemoryStore.from_options({"max": 100})
    for index in range(50):
        store.set(f"user-{index}", stored_session({"user": index}))
    for index in range(10_000):
        store.set(f"anonymous-{index}", stored_session({}))

    assert store.length() == 100
    assert all(store.get(f"user-{index}")["user"] == index for index in range(50))
    assert store.get("anonymous-9999") is not None, "the newest empty ones stay"
    assert store.get("anonymous-0") is None


def test_with_only_sessions_with_data_the_least_recently_used_goes_first():
    from django_express_session.stores.memory import MemoryStore

    store = MemoryStore.from_options({"max": 3})
    for name in ("a", "b", "c"):
        store.set(name, stored_session({"v": name}))
    store.get("a")  # now the most recently used
    store.set("d", stored_session({"v": "d"}))

    assert store.get("b") is None
    assert [store.get(name)["v"] for name in ("a", "c", "d")] == ["a", "c", "d"]


def test_a_session_that_gets_data_is_no_longer_evicted_first():
    from django_express_session.stores.memory import MemoryStore

    store = MemoryStore.from_options({"max": 2})
    store.set("visitor", stored_session({}))
    store.set("visitor", stored_session({"user": "alice"}))  # logged in
    store.set("anonymous", stored_session({}))
    store.set("another", stored_session({}))

    assert store.get("visitor")["user"] == "alice"
    assert store.get("anonymous") is None and store.get("another") is not None


def test_logged_in_users_survive_an_anonymous_flood_through_the_middleware(settings):
    from django.test import Client

    from tests.helpers import sid_of

    settings.ROOT_URLCONF = "tests.urls"
    settings.EXPRESS_SESSION = {
        "secret": "keyboard cat",
        "resave": False,
        "saveUninitialized": True,  # every cookie-less visitor is stored
        "store": {"backend": "memory", "options": {"max": 20}},
    }
    logged_in = [sid_of(set_cookie(Client().get(f"/set?user={i}"))) for i in range(10)]
    for _ in range(200):
        Client().get("/noop")

    for index, sid in enumerate(logged_in):
        read = Client().get("/read", HTTP_COOKIE=cookie_header(sid))
        assert read.json()["data"] == {"user": str(index)}


# -- the cache store: no pickles, no private internals, fail fast ---------------------------


PICKLING_CACHES = [
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django_redis.cache.RedisCache",
]


@pytest.mark.parametrize("backend", PICKLING_CACHES)
def test_a_cache_that_pickles_is_refused_at_start_up(backend, settings, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    from django_express_session.checks import check_cache_store
    from django_express_session.stores.cache import CacheStore

    settings.CACHES = {
        **settings.CACHES,
        "pickling": {"BACKEND": backend, "LOCATION": str(tmp_path)},
    }
    settings.EXPRESS_SESSION = {
        "secret": STRONG,
        "store": {"backend": "cache", "options": {"alias": "pickling"}},
    }
    with pytest.raises(ImproperlyConfigured, match="pickles"):
        CacheStore.from_options({"alias": "pickling"})
    assert [message.id for message in check_cache_store()] == ["django_express_session.E010"]


def test_a_pickle_planted_in_a_file_based_cache_never_runs(settings, client, tmp_path):
    """The attack the refusal closes: Django unpickles any FileBasedCache item it reads."""
    import pickle
    import zlib

    from django.core.cache import caches

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    settings.ROOT_URLCONF = "tests.urls"
    settings.CACHES = {
        **settings.CACHES,
        "files": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                  "LOCATION": str(tmp_path / "cache")},
    }  # fmt: skip
    settings.EXPRESS_SESSION = {
        "secret": "keyboard cat",
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "cache", "options": {"alias": "files"}},
    }
    cache = caches["files"]
    cache.set("planted", "x")  # then overwrite the item's bytes, as an attacker would
    path = cache._key_to_file(cache.make_key("planted"))
    with open(path, "wb") as handle:
        handle.write(pickle.dumps(None))  # the expiry
        handle.write(zlib.compress(pickle.dumps(Exploit())))

    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        client.get("/read", HTTP_COOKIE=cookie_header("planted"))
    assert not marker.exists()


def test_a_pickle_planted_in_memcached_is_never_unpickled(
    store_cache_memcached, memcached_client, settings, client, tmp_path
):
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    use_express_session(settings, store=store_cache_memcached)
    # flags 1: what Django's own memcached client (pymemcache's pickle_serde) unpickles.
    memcached_client.set("sess:planted", pickle.dumps(Exploit()), flags=1)

    response = client.get("/read", HTTP_COOKIE=cookie_header("planted"))

    assert response.status_code == 200 and response.json()["data"] == {}
    assert not marker.exists()


def test_the_store_reads_no_private_name_of_django_s_memcached_client(settings, monkeypatch):
    from django.core.cache.backends.memcached import PyMemcacheCache

    from django_express_session.stores.cache import CacheStore

    settings.CACHES = {
        **settings.CACHES,
        "mc": {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
               "LOCATION": "127.0.0.1:1;127.0.0.1:2", "OPTIONS": {"timeout": 0.2}},
    }  # fmt: skip
    monkeypatch.setattr(PyMemcacheCache, "__init__", lambda *a, **k: pytest.fail("built"))
    items = CacheStore.from_options({"alias": "mc"}).items
    assert sorted(items.clients) == ["127.0.0.1:1", "127.0.0.1:2"]
    client = items.clients["127.0.0.1:1"]
    assert (client.connect_timeout, client.timeout) == (0.5, 0.2)


def test_what_the_cache_can_share_with_node_is_a_check(settings):
    from django_express_session.checks import check_cache_store

    def ids(backend, location="127.0.0.1:11211", placement="node-memcached"):
        settings.CACHES = {**settings.CACHES, "c": {"BACKEND": backend, "LOCATION": location}}
        settings.EXPRESS_SESSION = {
            "secret": STRONG,
            "store": {"backend": "cache", "options": {"alias": "c", "placement": placement}},
        }
        return [message.id for message in check_cache_store()]

    memcached = "django.core.cache.backends.memcached.PyMemcacheCache"
    assert ids(memcached) == []
    assert ids("django.core.cache.backends.memcached.PyLibMCCache") == []
    # node-memcached's placement: any pool of host:port servers can be shared with Node.
    assert ids(memcached, "a:1;b:2;c") == []
    # The default placement (rendezvous, as before) cannot share a pool with Node.
    assert ids(memcached, "a:1;b:2;c", placement="rendezvous") == ["django_express_session.W017"]
    assert ids(memcached, "a:1", placement="rendezvous") == []
    assert ids(memcached, "unix:/tmp/m.sock;b:2") == ["django_express_session.W017"]
    assert ids(memcached, "[::1]:11211;b:2") == ["django_express_session.W017"]
    assert ids("django.core.cache.backends.locmem.LocMemCache", "x") == [
        "django_express_session.W016"
    ]


def test_a_frozen_memcached_gets_a_503_in_under_a_second(settings, client):
    import os
    import signal
    import time

    from tests.servers.memcached import pymemcache_cache, start_memcached

    server = start_memcached()
    try:
        settings.ROOT_URLCONF = "tests.urls"
        settings.CACHES = {**settings.CACHES, "frozen": pymemcache_cache(server)}
        settings.EXPRESS_SESSION = {
            "secret": "keyboard cat",
            "resave": False,
            "saveUninitialized": False,
            "store": {"backend": "cache", "options": {"alias": "frozen"}},
        }
        conf.get_store().set("frozen-session", stored_session({"user": "alice"}))
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            for url in ("/read", "/set?v=1"):
                started = time.monotonic()
                response = client.get(url, HTTP_COOKIE=cookie_header("frozen-session"))
                elapsed = time.monotonic() - started
                assert response.status_code == 503, url
                assert elapsed < 1, f"{url} took {elapsed:.2f} s"
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    finally:
        conf.reset()
        server.stop()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e300])
def test_cookie_from_json_survives_an_original_max_age_the_decoder_refuses(value):
    """Found by benchmarks/fuzz.py: a direct caller of from_json got an OverflowError."""
    cookie = Cookie.from_json({"originalMaxAge": value, "path": "/"})
    assert cookie.original_max_age is None
    cookie.reset_max_age()
    assert cookie.serialize("connect.sid", "v") == "connect.sid=v; Path=/; HttpOnly"
