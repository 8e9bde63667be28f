"""Both apps agree: the Express app (``interop/node/app.js`` with the npm package's
``startPolicy``) publishes its session policy at start-up, and ``manage.py check``
reports each setting that differs in a way that breaks sharing. Django publishes on
its first request and logs the differences; the Express app logs them when it starts
after Django has published."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def reported(output: str) -> list[str]:
    return sorted(re.findall(r"\(django_express_session\.(W03\d)\)", output))


def logged(path: Path, text: str, timeout: float = 10) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if text in path.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def publishing(**node: object) -> dict[str, object]:
    """The Express app's options for a pair of its own: a fresh Express app, which
    publishes as it starts (the pool reuses running apps, and another test's app on the
    same store may have published since). ``run``, unique, makes the pair new;
    express-session ignores it."""
    return {"policy": {}, **node, "run": next(RUNS)}


RUNS = itertools.count()


MISMATCHES = [
    ("W030", {"name": "other.sid"}),
    ("W031", {"secret": ["another secret"]}),
    ("W032", {"resave": True}),
    ("W033", {"saveUninitialized": True}),
    ("W034", {"rolling": True}),
    ("W035", {"cookie": {"maxAge": 3_600_000}}),
    ("W036", {"absoluteMaxAge": 86_400_000}),
    ("W037", {"policy": {"touchAfter": 300}}),
    ("W038", {"policy": {"passport": {"field": "username"}}}),
]


@pytest.mark.parametrize(("check_id", "express_side"), MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_check_reports_each_difference_with_the_express_app(
    apps, server_pool, interop_store_redis, check_id, express_side
):
    store = interop_store_redis
    apps(store, node=publishing(**express_side))
    output = server_pool.manage(store, {}, "check")
    # A secret one side lacks: each app rejects the other's cookies (two warnings).
    assert reported(output) == [check_id] * (2 if check_id == "W031" else 1), output
    assert "HINT" in output


def test_matching_policies_report_nothing(apps, server_pool, interop_store_redis):
    apps(interop_store_redis, node=publishing(policy={"passport": {"field": "username"}}),
         django={"passport": {"field": "username"}})  # fmt: skip
    assert (
        reported(
            server_pool.manage(interop_store_redis, {"passport": {"field": "username"}}, "check")
        )
        == []
    )


def test_each_app_reads_the_other_policy_on_every_store(apps, server_pool, shared_store, browser):
    pair = apps(shared_store, node=publishing(rolling=True))
    # The database store's policy is a query: check reads it with --database, as Django's
    # own checks that query do.
    databases = [f"--database={alias}" for alias in shared_store.databases or {}]
    assert reported(server_pool.manage(shared_store, {}, "check", *databases)) == ["W034"]
    # Django publishes on its first request, and logs what the Express policy contradicts.
    browser.get(pair.django, "/session")
    assert logged(pair.django.server.log, "(W034)")
    # An Express app starting now reads Django's policy and logs the difference.
    later = apps(shared_store, node=publishing(rolling=True))
    assert logged(later.node.server.log, 'Django\'s EXPRESS_SESSION["rolling"] is False')
