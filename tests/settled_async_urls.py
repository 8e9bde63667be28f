"""Async views for ``test_settled_by_read``: the middleware runs its async path."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import re_path


async def view(request: HttpRequest) -> HttpResponse:
    session = request.session
    match request.path:
        case "/read":
            await session.aget("n")
        case "/write":
            await session.aset("n", (await session.aget("n", 0)) + 1)
        case "/logout":
            await session.aflush()
    return HttpResponse("ok")


urlpatterns = [re_path(r"^", view)]
