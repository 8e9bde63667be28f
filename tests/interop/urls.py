from django.urls import path

from . import auth_views, views

urlpatterns = [
    path("session", views.show, name="session"),
    path("touch", views.show, name="touch"),
    path("whoami", views.whoami),
    path("set", views.set_keys),
    path("delete", views.delete_key),
    path("save", views.save),
    path("max-age", views.max_age),
    path("regenerate", views.regenerate),
    path("login", views.login),
    path("destroy", views.destroy),
    path("logout", views.logout),
    path("fail", views.fail),
    path("me", auth_views.me),
    path("auth/login", auth_views.login),
    path("auth/logout", auth_views.logout),
    path("auth/password", auth_views.change_password),
    path("auth/user", auth_views.create_user),
    path("auth/logout-everywhere", auth_views.logout_everywhere),
    path("auth/sessions", auth_views.sessions),
    path("auth/age", auth_views.auth_age),
]
