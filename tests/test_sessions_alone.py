"""A site that uses sessions without ``django.contrib.auth`` (or contenttypes): the app
starts, and a session is kept, as with Django's own engine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent

SITE = """
    import django
    from django.conf import settings
    from django.http import HttpResponse
    from django.urls import path


    def count(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return HttpResponse(str(request.session["n"]))


    urlpatterns = [path("", count)]
    settings.configure(
        SECRET_KEY="a sessions-only site's secret key, long enough for the checks",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["django_express_session"],
        MIDDLEWARE=["django_express_session.middleware.SessionMiddleware"],
        SESSION_ENGINE="django_express_session.session",
        EXPRESS_SESSION={"resave": False, "saveUninitialized": False},
    )
    django.setup()

    from django.core import checks
    from django.test import Client

    serious = [m for m in checks.run_checks() if m.is_serious()]
    assert not serious, serious
    client = Client()
    print(client.get("/").content.decode(), client.get("/").content.decode())
"""


def test_a_site_without_django_contrib_auth_keeps_its_sessions(tmp_path):
    script = tmp_path / "site.py"
    script.write_text(textwrap.dedent(SITE))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(CHECKOUT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "2"]
