from django.urls import path

from . import views

urlpatterns = [
    path("login", views.log_in),
    path("whoami", views.whoami),
    path("csrf", views.csrf),
    path("message", views.add_message),
    path("messages", views.show_messages),
    path("session", views.show_session),
]
