"""``manage.py test``: Django's own command, with Django's stock test client honoured by
this engine (``testing.stock``) for the run. It replaces Django's ``test`` command only
by being in an installed app, as ``django.contrib.staticfiles`` replaces ``runserver``."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.test import Command as DjangoTestCommand


class Command(DjangoTestCommand):
    def handle(self, *test_labels: str, **options: Any) -> None:
        from ...testing import stock  # the package's test support, for this run only

        stock.enable()
        try:
            super().handle(*test_labels, **options)
        finally:
            stock.disable()
