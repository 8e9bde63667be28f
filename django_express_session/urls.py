"""URL patterns to include: ``path("account/", include("django_express_session.urls"))``.

``status`` (JSON, for expiry banners), ``sessions/`` ("your sessions", login required),
``sessions/end-others`` and ``sessions/<ref>/end`` (POST, CSRF-protected)."""

from django.urls import path

from . import views

app_name = "express_session"

urlpatterns = [
    path("status", views.session_status, name="status"),
    path("sessions/", views.your_sessions, name="sessions"),
    path("sessions/end-others", views.end_other_sessions, name="end_other_sessions"),
    path("sessions/<str:ref>/end", views.end_session, name="end_session"),
]
