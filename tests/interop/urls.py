from django.urls import path

from . import views

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
]
