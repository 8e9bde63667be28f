"""``manage.py test``: Django's own command, with Django's stock test client honoured by
this engine (``testing.stock``) for the run. It replaces Django's ``test`` command only
by being in an installed app, as ``django.contrib.staticfiles`` replaces ``runserver``."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.test import Command as DjangoTestCommand

from ...testing.isolation import REAL_STORE, REAL_STORE_FLAG, REAL_STORE_HELP


class Command(DjangoTestCommand):
    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(REAL_STORE_FLAG, action="store_true", help=REAL_STORE_HELP)

    def handle(self, *test_labels: str, **options: Any) -> None:
        # The package's test support, for this run only: the stock client, and an
        # isolated store (``testing.isolation``).
        from ...testing import isolation, stock

        stock.enable()
        undo = (lambda: None) if options[REAL_STORE] else isolation.isolate()
        try:
            super().handle(*test_labels, **options)
        finally:
            undo()
            stock.disable()
