"""The private APIs of Django and Python this package relies on, in one place.

Each is used because no public API says the same thing; each has a test in
``tests/test_compat.py`` that fails loudly on a release that changes it.
"""

from __future__ import annotations

from django.http import HttpRequest


def made_by_test_client(request: HttpRequest) -> bool:
    """The request object was built in-process by ``django.test.Client`` or
    ``AsyncClient``: their handler marks every request it makes with
    ``_dont_enforce_csrf_checks`` (Django's CSRF middleware reads it for the same
    purpose); a request that came over HTTP never has it."""
    return hasattr(request, "_dont_enforce_csrf_checks")
