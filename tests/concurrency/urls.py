from django.urls import path

from . import views

urlpatterns = [path("set", views.set_keys), path("session", views.show)]
