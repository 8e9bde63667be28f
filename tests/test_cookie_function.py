"""express-session 1.19's cookie function: ``EXPRESS_SESSION["cookie"]`` as a dotted path
to ``f(request) -> dict``, asked at the path check of every request and for every new
cookie, its answer checked as the static options are."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_express_session import conf
from tests.helpers import cookie_header, set_cookie, sid_of, use_express_session

#: The requests the function was asked about, by path (``calls`` fixture).
CALLS: list[str | None] = []


def per_request(request: Any) -> dict[str, Any]:
    """A long-lived cookie for ``?remember``, a browser-session cookie otherwise; a
    ``?bad`` asked once the session is open (a new cookie, not the path check) gives a
    value the options refuse."""
    CALLS.append(None if request is None else request.path)
    if request is not None and request.GET.get("bad") and hasattr(request, "session"):
        return {"maxAge": "one day"}
    options: dict[str, Any] = {"httpOnly": True, "sameSite": "auto", "secure": "auto"}
    if request is not None and request.GET.get("remember"):
        options["maxAge"] = 30 * 86_400_000
    return options


def under_foo(request: Any) -> dict[str, Any]:
    return {"path": "/foo/"}


def not_a_dict(request: Any) -> Any:
    return [("maxAge", 1)]


@pytest.fixture
def calls():
    CALLS.clear()
    yield CALLS
    CALLS.clear()


@pytest.fixture
def function_cookie(settings, calls):
    use_express_session(settings, cookie=f"{__name__}.per_request")
    return calls


def test_the_function_is_parsed_as_a_dotted_path_or_a_callable():
    options = conf.parse({"secret": "s", "cookie": f"{__name__}.per_request"})
    assert options.cookie_function is per_request and dict(options.cookie.given) == {}
    assert conf.parse({"secret": "s", "cookie": per_request}).cookie_function is per_request
    static = conf.parse({"secret": "s", "cookie": {"maxAge": 1000}})
    assert static.cookie_function is None and static.cookie_for(None) is static.cookie


@pytest.mark.parametrize(
    "value,message",
    [
        (f"{__name__}.missing", "['cookie'] cannot be imported"),
        (f"{__name__}.CALLS", "['cookie'] must be a dict or a callable(request) -> dict"),
    ],
)
def test_a_wrong_function_is_refused_at_start(value, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        conf.parse({"secret": "s", "cookie": value})


def test_each_new_cookie_asks_the_function_about_its_request(client, function_cookie):
    remembered = set_cookie(client.get("/set?v=1&remember=1"))
    assert "expires=" in remembered.lower() and "samesite=lax" in remembered.lower()
    assert "secure" not in remembered.lower()  # "auto" over plain HTTP
    client.cookies.clear()
    browser_session = set_cookie(client.get("/set?v=1"))
    assert "expires=" not in browser_session.lower()
    client.cookies.clear()
    secure = set_cookie(client.get("/set?v=1", secure=True))
    assert "; secure" in secure.lower() and "samesite=none" in secure.lower()


def test_login_asks_it_again_so_remember_me_works(client, function_cookie):
    """``cycle_key()`` (``login()``) keeps the data and, like express's ``regenerate``,
    takes a new cookie from the function, with the request as it is then."""
    sid = sid_of(set_cookie(client.get("/set?v=1")))
    line = set_cookie(client.get("/regenerate?keep=1&remember=1", HTTP_COOKIE=cookie_header(sid)))
    assert sid_of(line) != sid and "expires=" in line.lower()
    assert client.get("/read", HTTP_COOKIE=cookie_header(sid_of(line))).json()["data"]["v"] == "1"


def test_it_is_called_as_express_calls_it(client, function_cookie):
    """Twice for a new session (the path check, then the new cookie), once for a stored
    one (the path check), as express-session 1.19 does."""
    sid = sid_of(set_cookie(client.get("/set?v=1")))
    assert function_cookie == ["/set", "/set"]
    function_cookie.clear()
    client.get("/read", HTTP_COOKIE=cookie_header(sid))
    assert function_cookie == ["/read"]
    function_cookie.clear()
    client.get("/regenerate", HTTP_COOKIE=cookie_header(sid))
    assert function_cookie == ["/regenerate", "/regenerate"]


def test_the_path_it_gives_gates_the_session(client, settings, calls):
    use_express_session(settings, cookie=f"{__name__}.under_foo")
    assert set_cookie(client.get("/set?v=1")) is None
    line = set_cookie(client.get("/foo/bar", {"v": "1"}))
    assert line is None or "path=/foo/" in line.lower()
    assert set_cookie(client.get("/set?v=1")) is None


def test_a_bad_answer_is_a_clear_error_and_loses_no_session(client, function_cookie):
    sid = sid_of(set_cookie(client.get("/set?v=1")))
    store = conf.get_store()
    before = store.get(sid)
    with pytest.raises(ImproperlyConfigured) as caught:
        client.get("/regenerate?bad=1", HTTP_COOKIE=cookie_header(sid))
    message = str(caught.value)
    assert "['cookie'] (the function per_request) gave bad options" in message
    assert "['maxAge'] must be milliseconds" in message and "'one day'" in message
    assert store.get(sid) == before  # regenerate asked first, destroyed nothing
    assert client.get("/read", HTTP_COOKIE=cookie_header(sid)).json()["data"] == {"v": "1"}


def test_an_answer_that_is_no_dict_is_named(client, settings, calls):
    use_express_session(settings, cookie=f"{__name__}.not_a_dict")
    with pytest.raises(ImproperlyConfigured, match="must be a dict of cookie options"):
        client.get("/set?v=1")


def test_outside_a_request_it_is_asked_about_none(function_cookie):
    from django_express_session.session import SessionStore

    session = SessionStore()
    session["v"] = 1
    session.save()
    assert None in function_cookie and session.cookie.expires is None


def test_the_checks_that_read_static_cookie_options_stand_aside(settings):
    from django_express_session.checks import check_deploy

    settings.EXPRESS_SESSION = {"secret": "s" * 32, "cookie": f"{__name__}.per_request"}
    assert "django_express_session.W010" not in [w.id for w in check_deploy()]
