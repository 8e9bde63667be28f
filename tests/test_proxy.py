"""``secure`` cookies and ``proxy`` (express-session's ``issecure``): when a Secure cookie is sent."""

import pytest

from tests.helpers import set_cookie

HEADERS = ["none", "https", "HTTPS", "https,http", " https , http", "http", "http,https"]

# Express's verified matrix; Django's SECURE_PROXY_SSL_HEADER plays express's `trust proxy`.
MATRIX = {
    ("undefined", False): "✘✘✘✘✘✘✘",
    ("undefined", True): "✘✔✘✔✔✘✘",
    (True, False): "✘✔✔✔✔✘✘",
    (False, True): "✘✘✘✘✘✘✘",
}


@pytest.mark.django_db
@pytest.mark.parametrize("store_settings", ["memory"], indirect=True)
@pytest.mark.parametrize(
    "proxy,trust_proxy,header,expected",
    [
        (proxy, trust, header, marks[index] == "✔")
        for (proxy, trust), marks in MATRIX.items()
        for index, header in enumerate(HEADERS)
    ],
)
def test_secure_cookie_matrix(client, express, settings, proxy, trust_proxy, header, expected):
    options = {"cookie": {"secure": True}}
    if proxy != "undefined":
        options["proxy"] = proxy
    express(**options)
    if trust_proxy:
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    extra = {} if header == "none" else {"HTTP_X_FORWARDED_PROTO": header}
    line = set_cookie(client.get("/set?v=x", **extra))
    assert (line is not None) == expected
    if line:
        assert "; Secure" in line


@pytest.mark.django_db
@pytest.mark.parametrize("store_settings", ["memory"], indirect=True)
def test_a_tls_connection_is_always_secure(client, express):
    express(proxy=False, cookie={"secure": True})
    assert "; Secure" in set_cookie(client.get("/set?v=x", secure=True))


@pytest.mark.django_db
@pytest.mark.parametrize("store_settings", ["memory"], indirect=True)
@pytest.mark.parametrize(
    "cookie,secure_request,expected",
    [
        ({"secure": "auto", "sameSite": "auto"}, True, "; Secure; SameSite=None"),
        ({"secure": "auto", "sameSite": "auto"}, False, "; SameSite=Lax"),
        ({"secure": False, "sameSite": "auto"}, True, "; SameSite=None"),
    ],
)
def test_auto_values_are_resolved_when_the_session_is_created(
    client, express, cookie, secure_request, expected
):
    store = express(cookie=cookie)
    response = client.get("/set?v=x", secure=secure_request)
    line = set_cookie(response)
    assert line.endswith(expected)
    stored = next(iter(store.all().values()))
    assert stored["cookie"]["secure"] is (cookie["secure"] == "auto" and secure_request)
    assert stored["cookie"]["sameSite"] == ("none" if secure_request else "lax")


@pytest.mark.django_db
@pytest.mark.parametrize("store_settings", ["memory"], indirect=True)
def test_secure_true_over_plain_http_sends_no_cookie(client, express):
    express(cookie={"secure": True, "sameSite": "auto"})
    assert set_cookie(client.get("/set?v=x")) is None
