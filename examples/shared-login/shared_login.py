"""Django's login and passport's, kept in step over the shared session.

Express apps that use passport keep the user under ``session["passport"]["user"]``;
Django keeps ``_auth_user_id``. This middleware (after ``AuthenticationMiddleware``)
logs in the Django user that passport names, and names the Django user for passport
after a Django login, so logging in on either app logs in on both. Logging out on either
ends the shared session, which logs out both.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, login


class PassportLoginMiddleware:
    backend = "django.contrib.auth.backends.ModelBackend"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        passport_user = (request.session.get("passport") or {}).get("user")
        if passport_user and not request.user.is_authenticated:
            user = (
                get_user_model()
                ._default_manager.filter(username=passport_user, is_active=True)
                .first()
            )
            if user is not None:
                login(request, user, backend=self.backend)  # rotates the id, keeps passport
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and passport_user != user.get_username():
            request.session["passport"] = {"user": user.get_username()}
        return response
