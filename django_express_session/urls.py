"""URL patterns to include: ``path("session/", include("django_express_session.urls"))``."""

from django.urls import path

from . import views

app_name = "express_session"

urlpatterns = [
    path("status", views.session_status, name="status"),
]
