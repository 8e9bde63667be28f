"""Views that work on either side of the switch (Django's engine or this package's)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token


def log_in(request: HttpRequest) -> HttpResponse:
    user, _ = User.objects.get_or_create(username=request.GET["username"])
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(request.session.session_key)


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.username if request.user.is_authenticated else "anonymous")


def csrf(request: HttpRequest) -> HttpResponse:
    """The CSRF secret (unmasked: ``get_token`` masks it differently every time)."""
    get_token(request)
    return HttpResponse(request.META["CSRF_COOKIE"])


def add_message(request: HttpRequest) -> HttpResponse:
    messages.info(request, request.GET["text"])
    return HttpResponse("added")


def show_messages(request: HttpRequest) -> JsonResponse:
    return JsonResponse([str(m) for m in messages.get_messages(request)], safe=False)


def show_session(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"key": request.session.session_key, "data": dict(request.session.items())})
