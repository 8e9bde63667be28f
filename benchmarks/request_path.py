"""What one request costs the session middleware in parsing and JSON: how many times the
``Cookie`` header is parsed, stored JSON decoded (``record.loads``) and JSON encoded
(``record.dumps``: a whole record, a cookie, or a top-level list or dict for a
fingerprint; scalars are fingerprinted without it).

Counted, not timed: every call is seen by ``sys.setprofile``, however a module imported
the function. The middleware runs in-process on ``RequestFactory`` requests (as in
production: no test environment), over the memory store with ``resave: false`` and
``saveUninitialized: false``, for a new visitor whose session is written, a returning
one whose view only reads, one whose view changes the session, a request under
``migrateFrom`` that carries only an old cookie, and one made by Django's test client
with the package's test support on.

    .venv/bin/python benchmarks/request_path.py
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django  # noqa: E402

django.setup()

from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402

from django_express_session import conf, http, record  # noqa: E402
from django_express_session.middleware import SessionMiddleware  # noqa: E402
from django_express_session.testing import stock  # noqa: E402

WATCHED = {
    http.parse_cookie_header.__code__: "Cookie parses",
    record.loads.__code__: "JSON decodes",
    record.dumps.__code__: "JSON encodes",
}
EXPRESS = {
    "secret": "request-path",
    "resave": False,
    "saveUninitialized": False,
    "store": {"backend": "memory"},
}
OLD_ENGINE = {"engine": "django.contrib.sessions.backends.signed_cookies"}


def counted(view, cookie: str = "", *, test_client: bool = False):
    counts: collections.Counter[str] = collections.Counter()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in WATCHED:
            counts[WATCHED[frame.f_code]] += 1

    request = RequestFactory().get("/", HTTP_COOKIE=cookie)
    if test_client:
        request._dont_enforce_csrf_checks = True  # as Django's test client marks its own
    middleware = SessionMiddleware(view)
    sys.setprofile(profile)
    try:
        response = middleware(request)
    finally:
        sys.setprofile(None)
    return response, counts


def read(request):
    return HttpResponse(str(request.session.get("n")))


def write(request):
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]))


def main() -> None:
    rows = []
    with override_settings(EXPRESS_SESSION=EXPRESS):
        conf.reset()
        response, counts = counted(write)
        rows.append(("new visitor, session written", counts))
        header = f"connect.sid={response.cookies['connect.sid'].value}; theme=dark"
        rows.append(("returning visitor, view reads", counted(read, header)[1]))
        rows.append(("returning visitor, view writes", counted(write, header)[1]))
        stock.enable()
        try:
            rows.append(
                ("Django's test client", counted(read, "sessionid=raw", test_client=True)[1])
            )
        finally:
            stock.disable()
    with override_settings(EXPRESS_SESSION={**EXPRESS, "migrateFrom": OLD_ENGINE}):
        conf.reset()
        rows.append(("migrateFrom, an old cookie only", counted(read, "sessionid=gone")[1]))
    conf.reset()
    names = list(WATCHED.values())
    print(f"| request | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    for label, counts in rows:
        print(f"| {label} | {' | '.join(str(counts[name]) for name in names)} |")


if __name__ == "__main__":
    main()
