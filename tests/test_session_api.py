"""express's session methods and Django's session API on the same object."""

import pytest

from tests.helpers import cookie_header, set_cookie, sid_of, stored_session, user_data

pytestmark = pytest.mark.django_db

SID = "existing-session-id-0123456789abc"


def test_reload_drops_unsaved_changes(client, express):
    store = express()
    store.create(SID, stored_session({"v": "x"}))
    assert user_data(client.get("/reload", HTTP_COOKIE=cookie_header(SID)).json()) == {"v": "x"}


def test_explicit_save_then_no_change_writes_once(client, express, spy):
    express()
    calls = spy()
    response = client.get("/save?v=x")
    assert calls.take() == ["set"]
    assert sid_of(set_cookie(response)) is not None


def test_a_stored_secret_rotation_resigns_with_the_first_secret(client, express):
    store = express(secret=["new", "old"], rolling=True)
    store.create(SID, stored_session({"v": "x"}))
    line = set_cookie(client.get("/noop", HTTP_COOKIE=cookie_header(SID, secret="old")))
    assert sid_of(line, ("new",)) == SID


def test_unknown_keys_written_by_node_survive(client, express):
    store = express()
    node_record = stored_session({"passport": {"user": 7}, "views": 1})
    node_record["__lastAccess"] = 1795317976942
    store.create(SID, node_record)
    client.get("/set?views=2", HTTP_COOKIE=cookie_header(SID))
    stored = store.get(SID)
    assert stored["passport"] == {"user": 7} and stored["views"] == "2"
    assert list(stored)[:3] == ["cookie", "passport", "views"]


def test_json_is_byte_for_byte_what_express_writes(client, express):
    store = express(
        cookie={"maxAge": 60000, "sameSite": "lax", "secure": False, "domain": "example.test"}
    )
    response = client.get("/set?views=1&name=Zoë")
    stored = store.get(sid_of(set_cookie(response)))
    from django_express_session import record

    text = record.dumps({key: value for key, value in stored.items() if key != "__lastAccess"})
    expires = stored["cookie"]["expires"]
    assert text == (
        '{"cookie":{"originalMaxAge":60000,"expires":"' + expires + '","secure":false,'
        '"httpOnly":true,"domain":"example.test","path":"/","sameSite":"lax"},'
        '"views":"1","name":"Zoë"}'
    )
    assert len(expires) == 24 and expires.endswith("Z")


def test_set_cookie_attributes_in_express_order(client, express):
    express(
        cookie={
            "maxAge": 60000,
            "domain": "example.com",
            "partitioned": True,
            "priority": "high",
            "sameSite": "lax",
            "secure": "auto",
        }
    )
    line = set_cookie(client.get("/set?v=x", secure=True))
    name_value, *attributes = line.split("; ")
    assert name_value.startswith("connect.sid=s%3A")
    assert [attribute.split("=")[0] for attribute in attributes] == [
        "Domain",
        "Path",
        "Expires",
        "HttpOnly",
        "Secure",
        "Partitioned",
        "Priority",
        "SameSite",
    ]
    assert "Priority=High" in attributes and "SameSite=Lax" in attributes


def test_a_browser_session_cookie_has_no_expires(client, express):
    express()
    line = set_cookie(client.get("/set?v=x"))
    assert line.endswith("; Path=/; HttpOnly") and "Expires" not in line


def test_async_views_use_the_async_api(async_client, express):
    import asyncio

    async def scenario():
        response = await async_client.get("/async-set?v=hello")
        sid = sid_of(set_cookie(response))
        read = await async_client.get("/async-read", HTTP_COOKIE=cookie_header(sid))
        assert read.json()["id"] == sid
        assert user_data(read.json()["data"]) == {"v": "hello"}
        regenerated = await async_client.get("/async-regenerate", HTTP_COOKIE=cookie_header(sid))
        new_sid = regenerated.content.decode()
        assert new_sid != sid
        assert sid_of(set_cookie(regenerated)) == new_sid

    asyncio.run(scenario())
