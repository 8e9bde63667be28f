"""Reading the Cookie header as express-session does (the cookie npm package, 0.7.2)."""

import sys

import pytest

from django_express_session import http
from django_express_session.http import decode_uri_component, parse_cookie_header


def test_first_occurrence_wins():
    assert parse_cookie_header("connect.sid=first; connect.sid=second") == {"connect.sid": "first"}


def test_names_are_case_sensitive():
    assert parse_cookie_header("Connect.sid=a; connect.sid=b") == {
        "Connect.sid": "a",
        "connect.sid": "b",
    }


def test_quotes_spaces_and_tabs_are_stripped():
    assert parse_cookie_header(' a = "quoted" ;\tb=\tplain\t') == {"a": "quoted", "b": "plain"}


def test_segments_without_equals_are_skipped():
    assert parse_cookie_header("flag; a=1; other; b=2") == {"a": "1", "b": "2"}


def test_values_are_percent_decoded_only_when_they_contain_percent():
    assert parse_cookie_header("a=s%3Aabc.d%2Be; b=s:abc.d+e") == {
        "a": "s:abc.d+e",
        "b": "s:abc.d+e",
    }


def test_malformed_percent_encoding_keeps_the_raw_value():
    assert parse_cookie_header("a=%zz; b=%E0%A4%A") == {"a": "%zz", "b": "%E0%A4%A"}


def test_invalid_utf8_keeps_the_raw_value():
    assert parse_cookie_header("a=%FF") == {"a": "%FF"}


def test_empty_header():
    assert parse_cookie_header("") == {}
    assert parse_cookie_header("=") == {"": ""}


@pytest.mark.parametrize("text", ["%", "%4", "a%zzb", "%C3"])
def test_decode_uri_component_throws_like_javascript(text):
    with pytest.raises(ValueError):
        decode_uri_component(text)


def test_decode_uri_component_decodes_reserved_characters():
    assert decode_uri_component("%3B%2F%3A%20%C3%A9") == ";/: é"


# -- parsed once per request ------------------------------------------------------------


class _Parses:
    """Counts the calls of ``parse_cookie_header`` however a module imported it."""

    def __init__(self):
        self.count = 0

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code is parse_cookie_header.__code__:
            self.count += 1


def parses_of(middleware, request) -> int:
    parses = _Parses()
    sys.setprofile(parses)
    try:
        middleware(request)
    finally:
        sys.setprofile(None)
    return parses.count


@pytest.mark.django_db
@pytest.mark.parametrize("migrate_from", [False, True])
@pytest.mark.parametrize("test_client", [False, True])
def test_the_request_path_parses_the_cookie_header_once(settings, migrate_from, test_client):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from django_express_session.middleware import SessionMiddleware
    from tests.helpers import cookie_header, express_session

    express = express_session()
    if migrate_from:
        express["migrateFrom"] = {"engine": "django.contrib.sessions.backends.signed_cookies"}
    settings.EXPRESS_SESSION = express
    middleware = SessionMiddleware(lambda request: HttpResponse(request.session.get("v", "")))
    header = f"{cookie_header('unknown-session-0123456789')}; sessionid=old-key; other=1"
    request = RequestFactory().get("/", HTTP_COOKIE=header)
    if test_client:
        request._dont_enforce_csrf_checks = True  # as Django's test client marks its own

    http._remembered_cookies.cache_clear()  # a header seen before is not parsed again
    assert parses_of(middleware, request) == 1


def test_a_header_seen_before_is_not_parsed_again():
    header = "connect.sid=s%3Aabc.def; other=1"
    http._remembered_cookies.cache_clear()
    first = http.request_cookies(header)
    assert parses_of(lambda _: http.request_cookies(header), None) == 0
    assert http.request_cookies(header) is first
    assert dict(first) == parse_cookie_header(header) == {"connect.sid": "s:abc.def", "other": "1"}


def test_remembered_cookies_are_read_only_and_long_headers_are_not_remembered():
    with pytest.raises(TypeError):
        http.request_cookies("a=1")["a"] = "2"  # type: ignore[index]
    long_header = "a=1; " + "b=" + "x" * 3000
    assert parses_of(lambda _: http.request_cookies(long_header), None) == 1
    assert parses_of(lambda _: http.request_cookies(long_header), None) == 1
