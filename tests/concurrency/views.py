"""The race's (and the outage tests') two routes, shaped like ``interop/node/app.js`` so one driver speaks to
either server: ``/set?k=v`` sets keys, ``/session`` shows the data."""

import time
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse

# A view does some work between loading the session and saving it; this is the window
# in which a whole-record save overwrites what concurrent requests wrote.
WORK_SECONDS = 0.01


def set_keys(request: HttpRequest) -> HttpResponse:
    time.sleep(WORK_SECONDS)
    for key, value in request.GET.items():
        request.session[key] = value
    return HttpResponse("set")


def set_after_destroy(request: HttpRequest) -> HttpResponse:
    """Loads the session, says so by creating the file ``?loaded=``, waits until another
    request has destroyed the session, then sets ``late``."""
    session = request.session
    session.get("anything")  # loaded
    Path(request.GET["loaded"]).touch()
    deadline = time.monotonic() + 10
    while session.store.get(session.session_key) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    session["late"] = "yes"
    return HttpResponse("set")


def destroy(request: HttpRequest) -> HttpResponse:
    request.session.destroy()
    return HttpResponse("destroyed")


def show(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": request.session.session_key, "data": dict(request.session.items())})
