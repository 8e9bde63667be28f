"""The URLs of the sessions pages' tests: Django's admin, the optional URLconf of the
package, and the test login views."""

from django.contrib import admin
from django.urls import include, path

from django_express_session.admin import register_user_admin
from tests.interop.auth_views import login as log_in
from tests.interop.auth_views import me

# Django's own user admin lists each user's sessions.
register_user_admin()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("account/", include("django_express_session.urls")),
    path("me", me),
    path("login", log_in),
]
