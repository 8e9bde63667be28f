"""The views of the lifetime tests: the test project's views, the package's status view,
and a login with "remember me"."""

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from . import urls, views

THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000


def login_remembered(request: HttpRequest) -> HttpResponse:
    """The "remember me" recipe: a long lifetime for this session, set at login."""
    user = User.objects.get(username="alice")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if request.GET.get("remember"):
        request.session.cookie.max_age = THIRTY_DAYS_MS
    return HttpResponse(request.session.id)


def expiry(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"expires_in": request.session.expires_in})


urlpatterns = [
    *urls.urlpatterns,
    path("session/", include("django_express_session.urls")),
    path("login-remembered", login_remembered),
    path("expires-in", expiry),
    path("login-user", views.login_user),
]
