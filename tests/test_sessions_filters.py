"""The sessions pages' filters: ``device_name`` (a user agent as the pages name it)
and ``seen_ago``."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from django_express_session.templatetags.express_sessions import device_name, seen_ago

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
EDGE_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0"
HEADLESS_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
CHROME_ANDROID = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"


@pytest.mark.parametrize(
    ("user_agent", "name"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (FIREFOX_MAC, "Firefox on macOS"),
        (CHROME_ANDROID, "Chrome on Android"),
        (HEADLESS_CHROME, "Chrome on Linux"),
        ("curl/8.5.0", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_device_name(user_agent, name):
    assert device_name(user_agent) == name


def test_seen_ago_says_just_now_within_a_minute():
    now = timezone.now()
    assert seen_ago(now - timedelta(seconds=20)) == "just now"
    assert seen_ago(now - timedelta(minutes=5, seconds=3)) == "5\xa0minutes ago"
    assert seen_ago(None) == ""


def test_only_the_first_512_characters_of_a_user_agent_are_read():
    # As ``track`` cuts what it stores; an Express app may have stored more.
    assert device_name("x" * 600 + " Firefox/133.0") == ""
    assert device_name("x" * 400 + " Firefox/133.0") == "Firefox"


def test_a_hostile_user_agent_is_named_in_linear_time():
    # 40 KB of "Version/" tokens with no "Safari/": a ".*" between the two tokens made
    # each page that showed it take seconds (quadratic backtracking).
    hostile = "Version/1 " * 4000
    started = time.perf_counter()
    for _ in range(20):
        assert device_name(hostile) == ""
        assert device_name(hostile[:500] + " Safari/1") == "Safari"
    assert time.perf_counter() - started < 1.0
