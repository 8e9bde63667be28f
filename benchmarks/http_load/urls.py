from django.conf import settings
from django.urls import path

from . import views

if settings.BENCH_ASYNC:
    urlpatterns = [
        path("noop", views.anoop),
        path("read", views.aread),
        path("incr", views.aincr),
        path("fill", views.afill),
    ]
else:
    urlpatterns = [
        path("noop", views.noop),
        path("read", views.read),
        path("incr", views.incr),
        path("fill", views.fill),
    ]
