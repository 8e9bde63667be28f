"""Small views the behaviour tests drive, one per thing a handler can do to a session."""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse


def noop(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def set_value(request: HttpRequest) -> HttpResponse:
    for key, value in request.GET.items():
        request.session[key] = value
    return HttpResponse("set")


def read(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": request.session.id, "data": dict(request.session.items())})


def save(request: HttpRequest) -> HttpResponse:
    for key, value in request.GET.items():
        request.session[key] = value
    request.session.save()
    return HttpResponse("saved")


def regenerate(request: HttpRequest) -> HttpResponse:
    request.session.regenerate(keep_data="keep" in request.GET)
    request.session["after"] = "regenerate"
    return HttpResponse(request.session.id)


def regenerate_and_save(request: HttpRequest) -> HttpResponse:
    request.session.regenerate()
    request.session["v"] = "new"
    request.session.save()
    return HttpResponse(request.session.id)


def destroy(request: HttpRequest) -> HttpResponse:
    request.session.destroy()
    return HttpResponse("destroyed")


def unset(request: HttpRequest) -> HttpResponse:
    request.session["lost"] = "yes"
    request.session = None
    return HttpResponse("unset")


def delete_attribute(request: HttpRequest) -> HttpResponse:
    del request.session
    return HttpResponse("deleted")


def set_max_age(request: HttpRequest) -> HttpResponse:
    request.session.cookie.max_age = int(request.GET["ms"])
    return HttpResponse("max_age")


def reload(request: HttpRequest) -> HttpResponse:
    request.session["unsaved"] = "dropped"
    request.session.reload()
    return JsonResponse(dict(request.session.items()))


def server_error(request: HttpRequest) -> HttpResponse:
    request.session["v"] = "from-500"
    return HttpResponse("boom", status=500)


def login_user(request: HttpRequest) -> HttpResponse:
    user = User.objects.get(username=request.GET.get("username", "alice"))
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(request.session.id)


def logout_user(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponse("bye")


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.username if request.user.is_authenticated else "anonymous")


def add_message(request: HttpRequest) -> HttpResponse:
    messages.info(request, request.GET.get("text", "hello"))
    return HttpResponse("added")


def show_messages(request: HttpRequest) -> HttpResponse:
    return JsonResponse([str(m) for m in messages.get_messages(request)], safe=False)


async def async_set(request: HttpRequest) -> HttpResponse:
    await request.session.aset("v", request.GET.get("v", "async"))
    return HttpResponse("async set")


async def async_regenerate(request: HttpRequest) -> HttpResponse:
    await request.session.aregenerate()
    await request.session.aset("after", "aregenerate")
    return HttpResponse(request.session.id)


async def async_read(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": request.session.id, "data": dict(await request.session.aitems())})
