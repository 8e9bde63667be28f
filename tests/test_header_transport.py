"""``EXPRESS_SESSION["header"]``: the signed id in a request header where no cookie can
go, over HTTP on the Django side (the Express side: tests/interop/test_header_transport.py).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path
from django.views.debug import ExceptionReporter

from django_express_session import conf, signing
from django_express_session.transport import MASK
from tests.helpers import SECRET, set_cookie, sid_of

HEADER = "X-Session-Id"
META_KEY = "HTTP_X_SESSION_ID"

pytestmark = pytest.mark.django_db

seen: dict[str, str | None] = {}


def count(request: HttpRequest) -> JsonResponse:
    """Count visits in the session; remember what the view could see of the header."""
    seen["meta"] = request.META.get(META_KEY)
    seen["report"] = ExceptionReporter(request, None, None, None).get_traceback_text()
    request.session["n"] = request.session.get("n", 0) + 1
    return JsonResponse({"n": request.session["n"]})


def peek(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"n": request.session.get("n")})


def sign_in(request: HttpRequest) -> JsonResponse:
    """What ``login()`` does to the session: a new id that keeps the data."""
    request.session.cycle_key()
    request.session["who"] = "alice"
    return JsonResponse({"who": "alice"})


def sign_out(request: HttpRequest) -> JsonResponse:
    request.session.flush()
    return JsonResponse({})


def nothing(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


urlpatterns = [
    path("count", count),
    path("peek", peek),
    path("login", sign_in),
    path("logout", sign_out),
    path("nothing", nothing),
]


@pytest.fixture
def configure(express, settings):
    """``configure(**options)``: the store, with this module's views."""

    def configured(**options):
        store = express(**options)
        settings.ROOT_URLCONF = __name__
        return store

    return configured


def signed(sid: str) -> str:
    return "s:" + signing.sign(sid, SECRET)


def header_client() -> Client:
    """A client that keeps no cookies: a mobile app that sends the header only."""
    return Client()


def get(path_: str, value: str | None = None, **headers: str):
    client = header_client()
    if value is not None:
        headers[HEADER] = value
    return client.get(path_, headers=headers)


def test_a_header_client_keeps_its_session_by_the_header(configure):
    configure(header=HEADER)
    first = get("/count")
    sid = sid_of(set_cookie(first))
    assert first[HEADER] == signed(sid)  # a new session it wrote to: the id goes out
    again = get("/count", first[HEADER])
    assert again.json() == {"n": 2}
    assert HEADER not in again  # same id: nothing to say
    assert set_cookie(again) is None
    assert HEADER in again["Vary"]


def test_the_url_encoded_value_of_the_cookie_is_accepted_too(configure):
    store = configure(header=HEADER)
    sid = sid_of(set_cookie(get("/count")))
    assert get("/count", signing.cookie_value(sid, SECRET)).json() == {"n": 2}
    assert store.get(sid)["n"] == 2


def test_a_new_id_goes_out_in_the_header(configure):
    configure(header=HEADER)
    value = get("/count")[HEADER]
    logged_in = get("/login", value)
    assert logged_in[HEADER] != value
    assert sid_of(set_cookie(logged_in)) == signing.session_id(logged_in[HEADER], [SECRET])
    assert get("/peek", logged_in[HEADER]).json() == {"n": 1}
    assert get("/peek", value).json() == {"n": None}  # the old id is gone


def test_an_ended_session_empties_the_header(configure):
    store = configure(header=HEADER)
    value = get("/count")[HEADER]
    ended = get("/logout", value)
    assert ended[HEADER] == ""
    assert store.get(signing.session_id(value, [SECRET])) is None


def test_the_cookie_wins_over_the_header(configure):
    configure(header=HEADER)
    by_cookie = sid_of(set_cookie(get("/count")))
    by_header = get("/count")[HEADER]
    client = Client()
    client.cookies["connect.sid"] = signing.cookie_value(by_cookie, SECRET)
    response = client.get("/count", headers={HEADER: by_header})
    assert response.json() == {"n": 2}
    assert get("/peek", by_header).json() == {"n": 1}


@pytest.mark.parametrize("value", ["s:forged-id.bad", "forged-id", "", "s%3Azz.zz"])
def test_a_bad_header_is_no_session(configure, value):
    store = configure(header=HEADER)
    genuine = sid_of(set_cookie(get("/count")))
    assert get("/peek", value).json() == {"n": None}
    assert store.get(genuine)["n"] == 1
    assert get("/nothing", value)[HEADER] == ""  # forget it (saveUninitialized off: no new one)


def test_save_uninitialized_announces_no_session_to_a_client_without_the_header(configure):
    configure(header=HEADER, saveUninitialized=True)
    browser_first_visit = get("/nothing")
    assert set_cookie(browser_first_visit) is not None  # express's behaviour, as ever
    assert HEADER not in browser_first_visit
    # A client that uses the header, with an id that names nothing, is given its new one.
    answer = get("/nothing", signed("no-such-session"))
    assert answer[HEADER] == signed(sid_of(set_cookie(answer)))


def test_the_id_in_the_header_reaches_no_view_log_or_error_report(configure):
    configure(header=HEADER)
    value = get("/count")[HEADER]
    get("/count", value)
    assert seen["meta"] == MASK
    assert value not in seen["report"]
    assert signing.session_id(value, [SECRET]) not in seen["report"]


def test_without_the_option_the_header_means_nothing(configure):
    configure()
    sid = sid_of(set_cookie(get("/count")))
    response = get("/count", signed(sid))
    assert response.json() == {"n": 1}  # a new session: the header was not read
    assert HEADER not in response
    assert seen["meta"] == signed(sid)  # and left as it came: an error report shows it
    assert signed(sid) in seen["report"]
    assert HEADER not in response.get("Vary", "")


@pytest.mark.parametrize(
    "value, message",
    [
        ("X Session", "must be a header name"),
        (True, "must be a header name"),
        ("Cookie", "means something else"),
        ("X_Session_Id", "must be a header name"),
    ],
)
def test_a_bad_header_option_is_named(settings, value, message):
    settings.EXPRESS_SESSION = {"header": value}
    with pytest.raises(ImproperlyConfigured, match=message):
        conf.get_options()


@pytest.mark.parametrize("value", [0, -1, "30", True])
def test_a_bad_socket_recheck_is_named(settings, value):
    settings.EXPRESS_SESSION = {"socketRecheck": value}
    with pytest.raises(ImproperlyConfigured, match="socketRecheck"):
        conf.get_options()
