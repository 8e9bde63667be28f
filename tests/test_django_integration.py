"""Django's own session users work on this engine: auth, CSRF in the session, messages."""

import pytest
from django.contrib.auth.models import User

from tests.helpers import cookie_header, set_cookie, sid_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="secret")


def _follow(client, path, sid):
    response = client.get(path, HTTP_COOKIE=cookie_header(sid) if sid else "")
    return response, sid_of(set_cookie(response)) or sid


def test_login_rotates_the_id_and_logs_in(client, express, alice):
    store = express()
    _, sid = _follow(client, "/set?cart=1", None)
    _, new_sid = _follow(client, "/login?username=alice", sid)
    assert new_sid != sid and store.get(sid) is None
    assert store.get(new_sid)["cart"] == "1"  # cycle_key keeps the data
    assert store.get(new_sid)["_auth_user_id"] == str(alice.pk)
    assert _follow(client, "/whoami", new_sid)[0].content == b"alice"


def test_logout_ends_the_session(client, express, alice):
    store = express()
    _, sid = _follow(client, "/login?username=alice", None)
    response = client.get("/logout", HTTP_COOKIE=cookie_header(sid))
    assert store.get(sid) is None
    assert set_cookie(response).startswith("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970")
    assert client.get("/whoami", HTTP_COOKIE=cookie_header(sid)).content == b"anonymous"


def test_messages_survive_to_the_next_request(client, express, settings):
    settings.MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
    express()
    _, sid = _follow(client, "/message?text=saved!", None)
    assert _follow(client, "/messages", sid)[0].json() == ["saved!"]
    assert _follow(client, "/messages", sid)[0].json() == []


def test_csrf_token_in_the_session(express, settings):
    from django.test import Client

    settings.CSRF_USE_SESSIONS = True
    express()
    client = Client(enforce_csrf_checks=True)
    from django.middleware.csrf import CSRF_SESSION_KEY

    response = client.get("/set?v=x")
    sid = sid_of(set_cookie(response))
    # No token in the session yet: a POST is refused.
    assert client.post("/noop", HTTP_COOKIE=cookie_header(sid)).status_code == 403
    from django_express_session import conf

    token = "a" * 32
    record = conf.get_store().get(sid)
    record[CSRF_SESSION_KEY] = token
    conf.get_store().set(sid, record)
    response = client.post("/noop", {"csrfmiddlewaretoken": token}, HTTP_COOKIE=cookie_header(sid))
    assert response.status_code == 200
