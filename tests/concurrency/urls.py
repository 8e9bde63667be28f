from django.urls import path

from . import views

urlpatterns = [
    path("set", views.set_keys),
    path("set-after-destroy", views.set_after_destroy),
    path("destroy", views.destroy),
    path("session", views.show),
]
