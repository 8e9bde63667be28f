from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("action/<str:name>", views.action, name="action"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
]
