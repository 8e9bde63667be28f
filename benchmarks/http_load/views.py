"""The three routes, sync (gunicorn) and async (uvicorn). Each answers a short text body of
about the same size, and works without any session middleware (the baseline), where
``/read`` and ``/incr`` then do what ``/noop`` does.

``/fill`` makes the realistic session the ``--record 1kb`` runs measure: what a logged-in
visitor of a shop carries (Django's auth keys, a ``passport`` as a Node app sharing the
session writes it, a 12-item cart, one pending message) and the counter, about 1.1 KB of
JSON in all."""

from django.http import HttpResponse

#: The realistic session's data (without the counter).
LOGGED_IN: dict = {
    "_auth_user_id": "48213",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": "5f2b9c0e4d7a1f3b8e6c2a9d0b4f7e1c3a5d8b2e6f9c1a4d7b0e3f6a9c2d5b8e",
    "passport": {"user": "48213"},
    "cart": [
        {"sku": f"SKU-{10_000 + index}", "qty": 1 + index % 3, "price": 4.5 + index * 2.25,
         "title": f"Cart item {index}"}
        for index in range(12)
    ],
    "_messages": '[["__json_message",0,25,"Your order was saved."]]',
    "currency": "EUR",
}  # fmt: skip


def _text(value: object) -> HttpResponse:
    return HttpResponse(str(value), content_type="text/plain")


def noop(request):
    return _text(0)


def read(request):
    session = getattr(request, "session", None)
    return _text(0 if session is None else session.get("n", 0))


def incr(request):
    session = getattr(request, "session", None)
    if session is None:
        return _text(0)
    session["n"] = session.get("n", 0) + 1
    return _text(session["n"])


def fill(request):
    """A new visitor's first request of the 1 KB runs: the realistic record, counter 1."""
    session = getattr(request, "session", None)
    if session is not None:
        session.update(LOGGED_IN)
        session["n"] = 1
    return _text(1)


async def anoop(request):
    return _text(0)


async def aread(request):
    session = getattr(request, "session", None)
    return _text(0 if session is None else await session.aget("n", 0))


async def aincr(request):
    session = getattr(request, "session", None)
    if session is None:
        return _text(0)
    value = await session.aget("n", 0) + 1
    await session.aset("n", value)
    return _text(value)


async def afill(request):
    session = getattr(request, "session", None)
    if session is not None:
        await session.aupdate(LOGGED_IN)
        await session.aset("n", 1)
    return _text(1)
