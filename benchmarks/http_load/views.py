"""The three routes, sync (gunicorn) and async (uvicorn). Each answers a short text body of
about the same size, and works without any session middleware (the baseline), where
``/read`` and ``/incr`` then do what ``/noop`` does."""

from django.http import HttpResponse


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
