"""WebSockets with the express session (``django_express_session.channels``), through
Channels' ``WebsocketCommunicator``: the handshake's signed cookie opens the session
and its user (a Django login, a passport login the bridge reads), a bad signature is
anonymous, and a session ended anywhere closes its socket within ``socketRecheck``."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.auth import login
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.urls import path

from django_express_session import signing, users
from django_express_session.channels import (
    SESSION_ENDED,
    STORE_UNAVAILABLE,
    AuthMiddlewareStack,
)
from django_express_session.core.lifetime import now_ms
from django_express_session.record import expires_ms
from django_express_session.transport import MASK
from testproject.sockets import whoami_socket
from tests.helpers import SECRET, cookie_header, stored_session

pytestmark = pytest.mark.django_db(transaction=True)

RECHECK = 0.2  # seconds
HOUR_MS = 3_600_000


class WhoAmI(AsyncJsonWebsocketConsumer):
    """A Channels consumer: the socket's user, on connect and on each message."""

    async def connect(self):
        await self.accept()
        await self.send_json(self.who())

    async def receive_json(self, content, **kwargs):
        if content.get("login"):  # Channels' own login(), on the socket's session
            user = await User.objects.aget(username=content["login"])
            await login(self.scope, user, backend="django.contrib.auth.backends.ModelBackend")
            await self.scope["session"].asave()
        if content.get("count"):
            session = self.scope["session"]
            session["count"] = session.get("count", 0) + 1
            await session.asave()
        await self.send_json(self.who())

    def who(self):
        user = self.scope["user"]
        return {"user": user.username if user.is_authenticated else None}


def channels_app():
    routes = URLRouter([path("ws/whoami", WhoAmI.as_asgi())])
    return AllowedHostsOriginValidator(AuthMiddlewareStack(routes))


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]


@pytest.fixture
def sockets(express):
    """Sessions on the store under test, checked every ``RECHECK`` seconds."""

    def configure(**options):
        return express(cookie={"maxAge": HOUR_MS}, socketRecheck=RECHECK, **options)

    return configure


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="old password")


def django_login(name: str = "alice") -> tuple[Client, str, str]:
    """A Django login through the test URLs: the browser, its cookie header, the id."""
    client = Client()
    response = client.get("/login", {"username": name})
    assert response.status_code == 200
    return client, f"connect.sid={client.cookies['connect.sid'].value}", response.content.decode()


def connect(cookie: str | None, app=None, origin: str = "http://localhost"):
    headers = [(b"origin", origin.encode())]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(app or channels_app(), "/ws/whoami", headers=headers)


async def opened(communicator) -> dict:
    connected, _ = await communicator.connect()
    assert connected
    return await communicator.receive_json_from(timeout=5)


@contextlib.asynccontextmanager
async def socket_on(cookie: str | None, app=None, communicator=None):
    """An open socket (a communicator) and the first message it sent; disconnected
    at the end."""
    communicator = communicator or connect(cookie, app)
    try:
        yield communicator, await opened(communicator)
    finally:
        await communicator.disconnect()


async def awho_on_socket(cookie: str | None, app=None) -> dict:
    async with socket_on(cookie, app) as (_, first):
        return first


who_on_socket = async_to_sync(awho_on_socket)


# -- opening --------------------------------------------------------------------------


def test_a_django_login_opens_an_authenticated_socket(sockets, alice):
    sockets()
    _, cookie, _ = django_login()
    assert who_on_socket(cookie) == {"user": "alice"}


def test_a_passport_login_written_by_express_opens_an_authenticated_socket(sockets, alice):
    store = sockets(passport={"field": "username"})
    # What passport's req.login leaves in the store (the interop Express app writes so).
    store.create("express-login-1", stored_session({"passport": {"user": "alice"}}, HOUR_MS))
    assert who_on_socket(cookie_header("express-login-1")) == {"user": "alice"}


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "connect.sid=s%3Anot-signed",
        "connect.sid=" + signing.cookie_value("some-session", "another secret"),
    ],
)
def test_no_cookie_or_a_bad_signature_is_anonymous(sockets, alice, cookie):
    store = sockets()
    store.create("some-session", stored_session({"_auth_user_id": str(alice.pk)}, HOUR_MS))
    assert who_on_socket(cookie) == {"user": None}


def test_a_plain_asgi_app_gets_the_session_and_user_too(sockets, alice):
    sockets()
    _, cookie, _ = django_login()
    answer = who_on_socket(cookie, AuthMiddlewareStack(whoami_socket))
    assert answer == {"user": "alice", "stored": True}


def test_a_foreign_origin_is_refused_by_channels_validator(sockets, alice):
    sockets()
    _, cookie, _ = django_login()

    @async_to_sync
    async def attempt():
        communicator = connect(cookie, origin="http://evil.example")
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert attempt() is False


def test_auth_without_the_session_middleware_is_refused():
    from django_express_session.channels import AuthMiddleware

    @async_to_sync
    async def attempt():
        communicator = WebsocketCommunicator(AuthMiddleware(whoami_socket), "/")
        with pytest.raises(ValueError, match="SessionMiddleware"):
            await communicator.connect()

    attempt()


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
def test_the_session_is_opened_on_the_event_loop_without_a_thread(sockets, alice, monkeypatch):
    store = sockets()
    _, cookie, _ = django_login()
    loop_threads: list[int] = []
    original = store.aread

    async def recording_aread(*args, **kwargs):
        loop_threads.append(threading.get_ident())
        return await original(*args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("a socket called the store's sync read()")

    monkeypatch.setattr(store, "aread", recording_aread)
    monkeypatch.setattr(store, "read", forbidden)

    @async_to_sync
    async def visit():
        return threading.get_ident(), await awho_on_socket(cookie)

    loop_thread, answer = visit()
    assert answer == {"user": "alice"}
    assert loop_threads == [loop_thread]


def test_a_socket_may_write_its_session(sockets, alice):
    store = sockets()
    _, cookie, sid = django_login()

    @async_to_sync
    async def count():
        async with socket_on(cookie) as (communicator, _):
            for _ in range(2):
                await communicator.send_json_to({"count": True})
                await communicator.receive_json_from(timeout=5)

    count()
    assert store.get(sid)["count"] == 2


# -- a session ended anywhere closes its sockets --------------------------------------


async def closed_within(communicator, seconds: float) -> dict:
    """The close the middleware sent, waited for at most ``seconds``."""
    started = asyncio.get_running_loop().time()
    output = await communicator.receive_output(timeout=seconds)
    assert output == {"type": "websocket.close", "code": SESSION_ENDED}
    return {"after": asyncio.get_running_loop().time() - started}


def ending_closes_the_socket(cookie: str, end) -> float:
    """Open a socket on ``cookie``, run ``end()`` (sync, in a thread), and give how long
    the socket stayed open afterwards; the socket must still stand before."""

    @async_to_sync
    async def scenario():
        async with socket_on(cookie) as (communicator, first):
            assert first["user"] == "alice"
            await asyncio.sleep(RECHECK * 2)
            await communicator.send_json_to({})
            assert (await communicator.receive_json_from(timeout=5))["user"] == "alice"
            await asyncio.to_thread(end)
            return (await closed_within(communicator, RECHECK * 10))["after"]

    return scenario()


def test_logout_everywhere_closes_the_open_socket_within_the_interval(sockets, alice):
    store = sockets()
    if store.name == "cache" and store.kind == "memcached":
        pytest.skip("memcached cannot list a user's sessions")
    _, cookie, _ = django_login()
    after = ending_closes_the_socket(cookie, lambda: users.logout_everywhere(alice))
    assert after <= RECHECK * 5


def test_a_login_on_the_socket_is_followed_until_that_session_ends(sockets, alice):
    store = sockets()
    if store.name == "cache" and store.kind == "memcached":
        pytest.skip("memcached cannot list a user's sessions")

    @async_to_sync
    async def scenario():
        async with socket_on(None) as (communicator, first):
            assert first == {"user": None}
            await communicator.send_json_to({"login": "alice"})
            assert (await communicator.receive_json_from(timeout=5))["user"] == "alice"
            await asyncio.sleep(RECHECK * 3)  # the new session stands: the socket stays
            assert await communicator.receive_nothing(timeout=RECHECK)
            await asyncio.to_thread(users.logout_everywhere, alice)
            await closed_within(communicator, RECHECK * 10)

    scenario()


def test_a_logout_on_django_closes_the_socket(sockets, alice):
    sockets()
    client, cookie, _ = django_login()
    ending_closes_the_socket(cookie, lambda: client.get("/logout"))


def test_a_logout_on_express_closes_the_socket(sockets, alice):
    """passport's ``req.logout()`` without regenerating (``keepSessionInfo``) removes
    ``passport.user`` from the record it keeps."""
    store = sockets(passport={"field": "username"})
    store.create("express-login-2", stored_session({"passport": {"user": "alice"}}, HOUR_MS))

    def express_logout():
        record = store.get("express-login-2")
        record["passport"] = {}
        store.set("express-login-2", record)

    ending_closes_the_socket(cookie_header("express-login-2"), express_logout)


def test_the_absolute_cap_closes_the_socket(sockets, alice, session_clock):
    sockets(absoluteMaxAge=HOUR_MS)
    _, cookie, _ = django_login()
    ending_closes_the_socket(cookie, lambda: session_clock.advance(HOUR_MS))


def test_a_session_that_stands_keeps_its_socket_open(sockets, alice):
    sockets()
    _, cookie, _ = django_login()

    @async_to_sync
    async def scenario():
        async with socket_on(cookie) as (communicator, _):
            await asyncio.sleep(RECHECK * 5)
            assert await communicator.receive_nothing(timeout=RECHECK)
            await communicator.send_json_to({})
            return await communicator.receive_json_from(timeout=5)

    assert scenario() == {"user": "alice"}


# -- a long-lived socket and the idle timeout ------------------------------------------


def idle_expiry_after_a_while_on_a_socket(store, sid: str, cookie: str, clock) -> tuple[str, str]:
    """The record's ``cookie.expires`` before and after an open socket's checks, the
    clock moved forward by 20 minutes meanwhile (past touchAfter)."""
    before = store.get(sid)["cookie"]["expires"]

    @async_to_sync
    async def scenario():
        async with socket_on(cookie):
            clock.advance(20 * 60_000)
            await asyncio.sleep(RECHECK * 4)

    scenario()
    return before, store.get(sid)["cookie"]["expires"]


# (The moved clock is the package's: a server's TTL does not follow it.)
@pytest.mark.parametrize("store_settings", ["memory", "file"], indirect=True)
def test_a_socket_keeps_its_session_alive_only_as_touch_after_allows(sockets, alice, session_clock):
    store = sockets(touchAfter=600)
    _, cookie, sid = django_login()
    before, after = idle_expiry_after_a_while_on_a_socket(store, sid, cookie, session_clock)
    assert after > before  # touched: 20 minutes is past touchAfter
    expected = now_ms() + HOUR_MS
    assert abs(expires_ms(store.get(sid)) - expected) < 60_000

    store = sockets()  # no touchAfter: a socket does not extend its session
    _, cookie, sid = django_login()
    before, after = idle_expiry_after_a_while_on_a_socket(store, sid, cookie, session_clock)
    assert after == before


@pytest.mark.parametrize("store_settings", ["memory", "file"], indirect=True)
def test_the_socket_touch_never_runs_past_the_absolute_cap(sockets, alice, session_clock):
    # 20 minutes on, a touch would give an expiry 80 minutes after the start.
    store = sockets(touchAfter=60, absoluteMaxAge=HOUR_MS + 10 * 60_000)
    _, cookie, sid = django_login()
    cap = store.get(sid)["djangoExpressSession"]["startedAt"] + HOUR_MS + 10 * 60_000
    _, after = idle_expiry_after_a_while_on_a_socket(store, sid, cookie, session_clock)
    assert expires_ms({"cookie": {"expires": after}}) == cap


# -- the header transport on a socket --------------------------------------------------


def test_the_header_option_opens_a_socket_without_cookies(sockets, alice):
    sockets(header="X-Session-Id")
    _, _, sid = django_login()
    value = "s:" + signing.sign(sid, SECRET)

    @async_to_sync
    async def visit():
        headers = [(b"origin", b"http://localhost"), (b"x-session-id", value.encode())]
        communicator = WebsocketCommunicator(channels_app(), "/ws/whoami", headers=headers)
        async with socket_on(None, communicator=communicator) as (_, first):
            return first

    assert visit() == {"user": "alice"}


def test_the_header_is_masked_in_the_scope_the_app_gets(sockets, alice):
    sockets(header="X-Session-Id")
    _, _, sid = django_login()
    seen = []

    async def app(scope, receive, send):
        seen.extend(scope["headers"])
        await whoami_socket(scope, receive, send)

    value = "s:" + signing.sign(sid, SECRET)
    headers = [(b"x-session-id", value.encode())]

    @async_to_sync
    async def visit():
        communicator = WebsocketCommunicator(AuthMiddlewareStack(app), "/", headers=headers)
        async with socket_on(None, communicator=communicator) as (_, first):
            return first

    assert visit()["user"] == "alice"
    assert seen == [(b"x-session-id", MASK.encode())]


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
@pytest.mark.parametrize("touch_after, extended", [(600, True), (None, False)])
def test_on_redis_the_socket_touch_is_the_read_s_own(
    sockets, alice, redis_client, touch_after, extended
):
    """Redis applies touchAfter in the read's own round trip: a TTL an hour's session has
    mostly used up since the handshake (which touches, as any request) is restarted by
    the socket's checks under touchAfter, and left alone without."""
    sockets(**({} if touch_after is None else {"touchAfter": touch_after}))
    _, cookie, sid = django_login()
    key = next(key for key in redis_client.keys("*") if key.decode().endswith(sid))

    @async_to_sync
    async def scenario():
        async with socket_on(cookie):
            redis_client.expire(key, 60)
            await asyncio.sleep(RECHECK * 3)

    scenario()
    assert (redis_client.ttl(key) > 3000) is extended


@pytest.mark.parametrize("store_settings", ["memory"], indirect=True)
def test_an_unreachable_store_refuses_the_handshake_and_keeps_the_session(sockets, settings):
    """As a request gets a 503: the socket is not opened without its session."""
    from tests.servers.process import free_port

    settings.CACHES = {
        **settings.CACHES,
        "nowhere": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5},
        },
    }
    sockets(store={"backend": "redis", "options": {"alias": "nowhere"}})

    @async_to_sync
    async def attempt():
        communicator = connect(cookie_header("some-session-id"))
        connected, code = await communicator.connect(timeout=10)
        return connected, code

    assert attempt() == (False, STORE_UNAVAILABLE)
