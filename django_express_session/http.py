"""HTTP details: reading the Cookie header as express does, deciding whether a request
is secure and who the client is, matching the cookie path, and putting an exact
``Set-Cookie`` line on a Django response."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from .compat import put_set_cookie_line

_WHITESPACE = " \t"
_MALFORMED_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def decode_uri_component(text: str) -> str:
    """JavaScript's ``decodeURIComponent``: raise ``ValueError`` where it throws
    (a ``%`` not followed by two hex digits, or bytes that are not UTF-8)."""
    if _MALFORMED_PERCENT.search(text):
        raise ValueError(f"malformed percent-encoding in {text!r}")
    return unquote(text, errors="strict")  # UnicodeDecodeError is a ValueError


def _decode(value: str) -> str:
    if "%" not in value:
        return value
    try:
        return decode_uri_component(value)
    except ValueError:
        return value  # express keeps the raw value when decoding throws


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header as cookie@0.7.2 does for express-session.

    Unlike ``request.COOKIES``, the first occurrence of a name wins; surrounding double
    quotes are stripped; values are percent-decoded only when they contain ``%``.
    """
    cookies: dict[str, str] = {}
    length = len(header)
    index = 0
    while index < length:
        equals = header.find("=", index)
        if equals == -1:
            break
        end = header.find(";", index)
        if end == -1:
            end = length
        elif equals > end:
            # A segment without "=": start again after the last ";" before the "=".
            index = header.rfind(";", 0, equals) + 1
            continue
        name = header[index:equals].strip(_WHITESPACE)
        if name not in cookies:
            value = header[equals + 1 : end].strip(_WHITESPACE)
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            elif value == '"':
                value = ""
            cookies[name] = _decode(value)
        index = end + 1
    return cookies


#: Headers longer than this are parsed each time, not remembered: the memo stays small.
_MEMO_HEADER_LENGTH = 2048


def request_cookies(header: str) -> Mapping[str, str]:
    """``parse_cookie_header``, read-only, remembered for the last headers seen: a
    client sends the same ``Cookie`` header request after request."""
    if len(header) > _MEMO_HEADER_LENGTH:
        return parse_cookie_header(header)
    return _remembered_cookies(header)


@functools.lru_cache(maxsize=1024)
def _remembered_cookies(header: str) -> Mapping[str, str]:
    return MappingProxyType(parse_cookie_header(header))


def _connection_is_tls(request: HttpRequest) -> bool:
    # The scheme the server itself saw, before SECURE_PROXY_SSL_HEADER is considered:
    # the ASGI scope's, or the WSGI environ's (which is request.META).
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and scope.get("scheme"):
        return scope["scheme"] in ("https", "wss")
    return request.META.get("wsgi.url_scheme") == "https"


def is_secure(request: HttpRequest, proxy: bool | None) -> bool:
    """express-session's ``issecure``: ``None`` trusts Django's own answer (which honours
    ``SECURE_PROXY_SSL_HEADER``), ``True`` trusts ``X-Forwarded-Proto``, ``False`` only a
    TLS connection."""
    if _connection_is_tls(request):
        return True
    if proxy is None:
        return request.is_secure()
    if proxy is False:
        return False
    forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "")
    return forwarded.split(",", 1)[0].strip().lower() == "https"


def trusts_proxy(proxy: bool | None) -> bool:
    """A proxy in front is trusted under ``is_secure``'s rules: with ``proxy: True``,
    and with ``proxy`` unset when Django trusts one (its ``SECURE_PROXY_SSL_HEADER`` is
    set)."""
    return proxy is True or (proxy is None and bool(settings.SECURE_PROXY_SSL_HEADER))


def client_ip(request: HttpRequest, proxy: bool | None) -> str | None:
    """The client's address: behind a trusted proxy (``trusts_proxy``) the left-most
    ``X-Forwarded-For`` entry, as express's ``req.ip`` under ``trust proxy`` true.
    Otherwise, or when that entry is no IP address, the connection's ``REMOTE_ADDR``."""
    if trusts_proxy(proxy):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",", 1)[0].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass  # absent, or a proxy's garbage: the connection's address is all we know
    return request.META.get("REMOTE_ADDR") or None


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4 path-match (a deliberate difference: express uses a raw string
    prefix, so its ``/foo`` also matches ``/foobar``)."""
    if not cookie_path or cookie_path == "/" or request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


def set_cookie_line(response: HttpResponseBase, name: str, value: str, line: str) -> None:
    """Add ``line`` as this response's ``Set-Cookie`` for ``name``, replacing any other
    cookie of that name set earlier in the response (express puts its cookie last)."""
    cookies = response.cookies
    if name in cookies:
        del cookies[name]
    put_set_cookie_line(cookies, name, value, line)
