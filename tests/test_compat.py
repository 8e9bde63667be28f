"""Each private API of Django, Python and redis-py that ``compat`` relies on, pinned: a release that
changes one fails here, by name, instead of somewhere downstream."""

from __future__ import annotations

import inspect
import sys
import uuid
from http.cookies import SimpleCookie

import pytest
from django.contrib import auth
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.file import SessionStore as FileSession
from django.core.cache.backends.locmem import LocMemCache
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from redis.cluster import RedisCluster

from django_express_session import compat


def test_get_user_flushes_the_session_itself_when_the_password_hash_fails():
    # flush_reason tells a password change from a logout by this caller.
    assert "request.session.flush()" in inspect.getsource(auth.get_user)
    assert "await request.session.aflush()" in inspect.getsource(auth.aget_user)
    assert hasattr(sys, "_getframe")


def test_the_calling_code_is_that_of_the_caller_of_the_caller():
    def inner():
        return compat.calling_code(1)

    def outer():
        return inner()

    assert outer() is outer.__code__


def test_session_base_keeps_the_loaded_data_in_session_cache():
    class Loaded(SessionBase):
        def load(self):
            return {"v": 1}

    session = Loaded("a-session-key")
    assert not hasattr(session, "_session_cache")  # not loaded yet
    assert session._get_session() == {"v": 1}
    assert session._session_cache == {"v": 1}
    assert compat.session_data(session) == {"v": 1}
    assert compat.session_data(Loaded()) is None


def test_djangos_handlers_emit_each_morsels_own_line():
    # Both handlers write morsel.OutputString() for each cookie of the response.
    assert "c.OutputString()" in inspect.getsource(WSGIHandler.__call__)
    assert "c.OutputString()" in inspect.getsource(ASGIHandler.send_response)
    response = HttpResponse()
    line = "connect.sid=s%3Av; Path=/; HttpOnly"
    compat.put_set_cookie_line(response.cookies, "connect.sid", "s%3Av", line)
    morsel = response.cookies["connect.sid"]
    assert morsel.OutputString() == line
    assert (morsel.key, morsel.coded_value) == ("connect.sid", "s%3Av")  # the test client's read
    jar = SimpleCookie()
    jar.update(response.cookies)  # as Django's test client keeps its jar
    assert jar["connect.sid"].OutputString() == line


def _path(route, view):
    from django.urls import path

    return path(route, view)


urlpatterns: list = []


def test_locmem_keys_reads_django_s_private_names():
    # Else the cache store's all() and clear() would silently find nothing.
    cache = LocMemCache(str(uuid.uuid4()), {})
    cache.set("a", 1)
    assert hasattr(cache, "_lock") and hasattr(cache, "_cache")
    assert compat.locmem_keys(cache) == [cache.make_key("a")]


def test_the_file_engines_directory_is_the_one_it_resolves(settings, tmp_path, monkeypatch):
    # migratesessions and logout_everywhere list the old file engine's sessions there.
    monkeypatch.delattr(FileSession, "_storage_path", raising=False)
    settings.SESSION_FILE_PATH = str(tmp_path)
    assert compat.file_engine_storage_path(FileSession) == str(tmp_path)


@pytest.mark.parametrize("coverage", [True, False])
def test_a_clusters_full_coverage_setting_is_read_back(redis_cluster_client, coverage):
    # A client object given to the Redis store is copied for asyncio with this setting.
    node = redis_cluster_client.get_default_node()
    client = RedisCluster(host=node.host, port=node.port, require_full_coverage=coverage)
    try:
        assert compat.cluster_requires_full_coverage(client) is coverage
    finally:
        client.close()
