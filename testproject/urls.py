from django.contrib import admin
from django.urls import include, path

from django_express_session.admin import register_user_admin

# Django's own user admin lists each user's sessions.
register_user_admin()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("testproject.demo.urls")),
]
