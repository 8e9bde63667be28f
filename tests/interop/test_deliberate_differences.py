"""Where this package differs from express-session 1.19 on purpose (docs/differences.md), each app
does what its documentation says, side by side on one store.

The other documented differences are asserted where they show up in the shared-session
scenarios: destroy/logout clearing the cookie (test_shared_sessions), a maxAge change
re-sending it and no save on a 5xx (test_set_cookie_decisions).
"""

from __future__ import annotations

import pytest

from .conftest import Browser, sign

pytestmark = pytest.mark.interop


def test_cookie_path_is_matched_as_rfc_6265_on_django_and_as_a_prefix_on_express(
    interop_store_file, apps
):
    pair = apps(interop_store_file, cookie={"maxAge": 60_000, "path": "/se"})
    # express-session's path gate is a string prefix: "/se" covers "/set".
    on_node = Browser().get(pair.node, "/set", a="1")
    assert on_node.cookie() is not None
    assert on_node.cookie().attributes["path"] == "/se"
    # RFC 6265 §5.1.4: "/se" covers "/se" and "/se/...", not "/set": no session here.
    on_django = Browser().get(pair.django, "/set", a="1")
    assert on_django.status == 200
    assert on_django.cookie() is None


def test_a_new_session_whose_secure_cookie_cannot_be_sent_is_stored_by_express_only(
    interop_store_file, apps
):
    pair = apps(interop_store_file, cookie={"maxAge": 60_000, "secure": True})
    on_node = Browser().get(pair.node, "/set", a="node")
    on_django = Browser().get(pair.django, "/set", a="django")
    assert on_node.cookie() is None and on_django.cookie() is None
    node_id, django_id = on_node.body["id"], on_django.body["id"]

    # Over plain HTTP neither app sends the Secure cookie; a browser that somehow had the
    # cookie (here: signed by hand) finds express's session but not Django's.
    for app in pair:
        orphan = Browser().get(
            app, "/session", cookie=f"connect.sid={sign(node_id, 'keyboard cat')}"
        )
        assert orphan.body["id"] == node_id, app
        assert orphan.body["data"]["a"] == "node", app
        unsaved = Browser().get(
            app, "/session", cookie=f"connect.sid={sign(django_id, 'keyboard cat')}"
        )
        assert unsaved.body["id"] != django_id, app
