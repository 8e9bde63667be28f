"""The behaviour tests' views plus the admin, for the test-client tests."""

from django.contrib import admin
from django.urls import path

from tests.urls import urlpatterns as behaviour_urls

urlpatterns = [path("admin/", admin.site.urls), *behaviour_urls]
