"""The Django views of the identity bridge tests (``ROOT_URLCONF`` = this module; the
login views are the interop tests'), a custom passport serializer, and a store whose
every save loses its compare-and-set."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse
from django.urls import path

from django_express_session.stores.memory import MemoryStore
from tests.interop.auth_views import change_password, me
from tests.interop.auth_views import login as log_in
from tests.interop.auth_views import logout as log_out


async def ame(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    return JsonResponse(
        {"user": user.get_username() if user.is_authenticated else None, "id": request.session.id}
    )


def set_value(request: HttpRequest) -> JsonResponse:
    request.session.update(request.GET.dict())
    return me(request)


def regenerate(request: HttpRequest) -> JsonResponse:
    request.session.regenerate()
    return me(request)


def destroy(request: HttpRequest) -> JsonResponse:
    request.session.destroy()
    return JsonResponse({"id": None})


urlpatterns = [
    path("me", me),
    path("ame", ame),
    path("login", log_in),
    path("logout", log_out),
    path("password", change_password),
    path("set", set_value),
    path("regenerate", regenerate),
    path("destroy", destroy),
]


class IdAndName:
    """A custom scheme: passport's ``serializeUser`` stores ``{id, name}``."""

    @staticmethod
    def to_passport(user: Any) -> dict[str, Any]:
        return {"id": user.pk, "name": user.username}

    @staticmethod
    def from_passport(value: Any) -> User | None:
        if not isinstance(value, dict):
            return None
        return User.objects.filter(pk=value.get("id"), username=value.get("name")).first()


class Incomplete:
    @staticmethod
    def to_passport(user: Any) -> Any:
        return user.pk


class HammeredStore(MemoryStore):
    """The memory store with another request of the same browser writing the record
    just before each of this one's compare-and-sets, which therefore always loses."""

    def replace(self, sid: str, session: dict[str, Any], version: Any) -> bool:
        current = self.read(sid)
        if current is not None:
            hits = current.record.get("hits", 0) + 1
            super().replace(sid, {**current.record, "hits": hits}, current.version)
        return super().replace(sid, session, version)
