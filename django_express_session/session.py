"""``request.session``: Django's session API over an express-session record.

``SESSION_ENGINE = "django_express_session.session"`` makes this module the engine. The
class keeps Django's whole dict API (and its ``a*`` twins), adds express's session methods
(``id``, ``cookie``, ``regenerate``, ``destroy``, ``reload``, ``save``, ``touch``) and
remembers what the middleware needs to take express's per-request decisions: the id and
data as loaded (express's ``originalId``/``originalHash``), the data as last saved
(``savedHash``), and what the store holds (to write only this request's changes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.utils import timezone

from . import conf, record
from .cookie import Cookie
from .exceptions import (
    CorruptRecord,
    CreateError,
    InvalidSessionId,
    StoreUnavailable,
    UpdateError,
)
from .core import plans
from .core.drive import arun, run
from .http import is_secure
from .stores.base import Store, Versioned

logger = logging.getLogger("django_express_session")

T = TypeVar("T")

# A custom genid that keeps returning ids in use gets this many tries.
CREATE_ATTEMPTS = 5


def sid_hint(sid: Any) -> str:
    """Enough of a session id to correlate log lines, not enough to hijack it."""
    return f"{sid[:6]}…" if isinstance(sid, str) else repr(sid)


class SessionStore(SessionBase):
    """A session: Django's ``SessionBase`` with express-session's model underneath."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self.options = conf.get_options()
        self.store: Store = conf.get_store()
        self.request: HttpRequest | None = None
        #: The id the request's cookie carried (validly signed), as express's ``cookieId``.
        self.cookie_sid: str | None = None
        #: Destroyed by ``destroy()``: nothing more is saved in this response.
        self.destroyed = False
        #: Ended by ``destroy()`` or ``flush()``: the browser's cookie is cleared unless a
        #: new session replaces it.
        self.ended = False
        #: Cannot be saved (its id is unusable, or the store was down and the project
        #: chose to go on without sessions).
        self.detached = False
        #: The store refreshed the expiry while reading, so no touch is owed.
        self.touched_on_read = False
        self._cookie: Cookie | None = None
        self._stored = False
        self._known: Versioned | None = None
        self._original_id: str | None = self.session_key
        self._original: dict[str, str] = {}
        self._saved: dict[str, str] | None = None
        self._saved_id: str | None = None
        self._in_store: dict[str, str] = {}

    # -- built by the middleware ----------------------------------------------------------

    @classmethod
    def for_request(cls, request: HttpRequest, cookie_sid: str | None) -> SessionStore:
        """The session of a request: loaded when the cookie names a stored one, else new."""
        session = cls()
        session._attach(request, cookie_sid)
        loaded = session._read(cookie_sid) if cookie_sid else None
        session._begin(cookie_sid, loaded)
        return session

    @classmethod
    async def afor_request(cls, request: HttpRequest, cookie_sid: str | None) -> SessionStore:
        session = cls()
        session._attach(request, cookie_sid)
        loaded = await session._aread(cookie_sid) if cookie_sid else None
        session._begin(cookie_sid, loaded)
        return session

    @classmethod
    def detached_for(cls, request: HttpRequest) -> SessionStore:
        """An in-memory session that is never saved nor sent (store down, and the project
        prefers to go on without sessions, as express does on ``disconnect``)."""
        session = cls()
        session._attach(request, None)
        session._start_new()
        session.detached = True
        return session

    def _attach(self, request: HttpRequest, cookie_sid: str | None) -> None:
        self.request = request
        self.cookie_sid = cookie_sid

    def _begin(self, sid: str | None, loaded: Versioned | None) -> None:
        if loaded is None:
            self._start_new(self._generate_id())
        else:
            self._bind(sid, loaded)
            self._original_id = sid
            self._original = self._in_store
            # express: with resave, a loaded session counts as never saved.
            self._saved = None if self.options.resave else self._in_store
            self._saved_id = sid
            self.touched_on_read = loaded.touched

    # -- express's session API ------------------------------------------------------------

    @property
    def id(self) -> str | None:
        return self.session_key

    @property
    def cookie(self) -> Cookie:
        if self._cookie is None:
            self._session  # noqa: B018 (loads the record, and with it the cookie)
        if self._cookie is None:
            self._cookie = self._new_cookie()
        return self._cookie

    def touch(self) -> SessionStore:
        """Reset the cookie's expiry to ``original_max_age`` from now."""
        self.cookie.reset_max_age()
        return self

    def regenerate(self, keep_data: bool = False) -> None:
        """New id and fresh cookie; the old record is destroyed now. The data is dropped,
        as in express, unless ``keep_data`` (Django's ``cycle_key``)."""
        data, cookie = self._for_new_id(keep_data)
        if self._may_be_stored:
            self._call(self.store.destroy, self.session_key)
        self._rotate_id(data, cookie)

    async def aregenerate(self, keep_data: bool = False) -> None:
        data, cookie = self._for_new_id(keep_data)
        if self._may_be_stored:
            await self._acall(self.store.adestroy, self.session_key)
        self._rotate_id(data, cookie)

    def destroy(self) -> None:
        """Remove the record now; nothing is saved in this response and the browser's
        cookie is cleared."""
        if self._may_be_stored:
            self._call(self.store.destroy, self.session_key)
        self._end(destroyed=True)

    async def adestroy(self) -> None:
        if self._may_be_stored:
            await self._acall(self.store.adestroy, self.session_key)
        self._end(destroyed=True)

    def reload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        self._rebind(self._read(self.session_key))

    async def areload(self) -> None:
        self._rebind(await self._aread(self.session_key))

    def save(self, must_create: bool = False) -> None:
        """Write the session now (only this request's changes, onto the latest record)."""
        if self.destroyed or self.detached:
            return
        if self.session_key is None:
            self.create()
            return
        self._saved = record.fingerprint(self._session)
        self._saved_id = self.session_key
        self._write(self._saved, must_create)

    async def asave(self, must_create: bool = False) -> None:
        if self.destroyed or self.detached:
            return
        if self.session_key is None:
            await self.acreate()
            return
        self._saved = record.fingerprint(await self._aget_session())
        self._saved_id = self.session_key
        await self._awrite(self._saved, must_create)

    # -- Django's engine API --------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        self._bind_or_forget(self.session_key, self._read(self.session_key))
        return self._session_cache

    async def aload(self) -> dict[str, Any]:
        self._bind_or_forget(self.session_key, await self._aread(self.session_key))
        return self._session_cache

    def exists(self, session_key: str) -> bool:
        return self._call(self.store.get, session_key) is not None

    async def aexists(self, session_key: str) -> bool:
        return await self._acall(self.store.aget, session_key) is not None

    def create(self) -> None:
        """A new id, saved at once with the data set so far (Django's contract)."""
        self._saved = self._start_new_keeping_data()
        self._write(self._saved, must_create=True)
        self.modified = True

    async def acreate(self) -> None:
        self._saved = self._start_new_keeping_data()
        await self._awrite(self._saved, must_create=True)
        self.modified = True

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key is not None:
            self._call(self.store.destroy, key)
            self._forget_if_own(key)

    async def adelete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key is not None:
            await self._acall(self.store.adestroy, key)
            self._forget_if_own(key)

    def cycle_key(self) -> None:
        """What ``login()`` calls: a new id that keeps the data (fixation defence)."""
        self.regenerate(keep_data=True)

    async def acycle_key(self) -> None:
        await self.aregenerate(keep_data=True)

    def flush(self) -> None:
        """What ``logout()`` calls: the record is destroyed and a new, empty session
        starts (saved only if something is written to it)."""
        stored = self._may_be_stored
        self.clear()
        if stored:
            self.delete()
        self._end(destroyed=False)

    async def aflush(self) -> None:
        stored = self._may_be_stored
        self.clear()
        if stored:
            await self.adelete()
        self._end(destroyed=False)

    def is_empty(self) -> bool:
        return not self._stored and not getattr(self, "_session_cache", None)

    @classmethod
    def clear_expired(cls) -> None:
        conf.get_store().prune()

    @classmethod
    async def aclear_expired(cls) -> None:
        await conf.get_store().aprune()

    # -- expiry: Django's API mapped onto the cookie --------------------------------------

    def set_expiry(self, value: int | datetime | timedelta | None) -> None:
        """Django's ``set_expiry``: seconds, a datetime, a timedelta, 0 for a browser-session
        cookie, None for the configured ``maxAge``. The browser gets the new expiry."""
        cookie = self.cookie
        if value is None:
            cookie.max_age = self.options.cookie.given.get("maxAge")
        elif isinstance(value, datetime):
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
            cookie.expires = value
        elif isinstance(value, timedelta):
            cookie.max_age = value
        elif value == 0:
            cookie.max_age = None
        else:
            cookie.max_age = value * 1000

    async def aset_expiry(self, value: int | datetime | timedelta | None) -> None:
        await self._aget_session()
        self.set_expiry(value)

    def get_session_cookie_age(self) -> int:
        return settings.SESSION_COOKIE_AGE

    def get_expiry_age(self, **kwargs: Any) -> int:
        max_age = self.cookie.max_age
        if isinstance(max_age, bool) or max_age is None:
            return self.get_session_cookie_age()
        return max(0, max_age // 1000)

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        await self._aget_session()
        return self.get_expiry_age()

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        expires = self.cookie.expires
        if isinstance(expires, datetime):
            return expires
        return timezone.now() + timedelta(seconds=self.get_session_cookie_age())

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        await self._aget_session()
        return self.get_expiry_date()

    def get_expire_at_browser_close(self) -> bool:
        return not isinstance(self.cookie.expires, datetime)

    async def aget_expire_at_browser_close(self) -> bool:
        await self._aget_session()
        return self.get_expire_at_browser_close()

    def _validate_session_key(self, key: Any) -> bool:
        # express accepts any non-empty string id (a custom genid may make short ones).
        return isinstance(key, str) and bool(key)

    # -- what the middleware asks ---------------------------------------------------------

    @property
    def is_new(self) -> bool:
        """express's "new": the cookie did not name this session (no, bad or unknown
        cookie, or a new id since)."""
        return self.cookie_sid != self.session_key

    @property
    def stored(self) -> bool:
        return self._stored

    def fingerprint(self) -> dict[str, str]:
        return record.fingerprint(self._session_cache)

    def is_modified(self, fingerprint: dict[str, str]) -> bool:
        """express's ``isModified``: another id, or other data (key order included)."""
        return self.session_key != self._original_id or _differs(fingerprint, self._original)

    def is_saved(self, fingerprint: dict[str, str]) -> bool:
        """express's ``isSaved``: the data as last saved under this id. (express compares
        with the id as loaded, so a regenerated session saved by hand is written twice.)"""
        return (
            self._saved is not None
            and self._saved_id == self.session_key
            and not _differs(fingerprint, self._saved)
        )

    @property
    def saved_explicitly_or_loaded(self) -> bool:
        """express's ``savedHash`` is set."""
        return self._saved is not None

    def commit(self, fingerprint: dict[str, str]) -> None:
        """The end-of-request save."""
        self._write(fingerprint)

    async def acommit(self, fingerprint: dict[str, str]) -> None:
        await self._awrite(fingerprint)

    def store_touch(self) -> None:
        self._call(self.store.touch, self.session_key, self._record())

    async def astore_touch(self) -> None:
        await self._acall(self.store.atouch, self.session_key, self._record())

    def store_destroy(self) -> None:
        if self._stored:
            self._call(self.store.destroy, self.session_key)
            self._stored = False

    async def astore_destroy(self) -> None:
        if self._stored:
            await self._acall(self.store.adestroy, self.session_key)
            self._stored = False

    # -- internals ------------------------------------------------------------------------

    def _generate_id(self) -> str | None:
        sid = self.options.genid(self.request)
        if isinstance(sid, str) and sid:
            return sid
        logger.error("genid returned %r, not a string: this session will not be saved", sid)
        self.detached = True
        return None

    def _new_cookie(self) -> Cookie:
        """A cookie from the options (express ``store.generate``): ``"auto"`` values are
        resolved now, against this request."""
        cookie = Cookie()
        secure_request: bool | None = None
        for key, value in self.options.cookie.given.items():
            if key in ("secure", "sameSite") and value == "auto":
                if secure_request is None:
                    secure_request = self.request is not None and is_secure(
                        self.request, self.options.proxy
                    )
                value = secure_request if key == "secure" else ("none" if secure_request else "lax")
            if key == "maxAge":
                cookie._set_max_age(value)
            else:
                setattr(cookie, _COOKIE_ATTRIBUTES[key], value)
        return cookie

    def _start_new(self, sid: str | None = None) -> None:
        """A brand-new session, as for a visitor without a cookie."""
        self._session_key = sid
        self._session_cache = {}
        self._cookie = self._new_cookie()
        self._stored = False
        self._known = None
        self._original_id = sid
        self._original = {}
        self._saved = None
        self._saved_id = None
        self._in_store = {}

    def _start_new_keeping_data(self) -> dict[str, str]:
        data = getattr(self, "_session_cache", {})
        cookie = self._cookie
        self._start_new(self._generate_id())
        self._session_cache = data
        self._cookie = cookie or self._cookie
        self._saved_id = self.session_key
        return record.fingerprint(data)

    @property
    def _may_be_stored(self) -> bool:
        # A key that was never loaded may name a record (Django's standalone use).
        never_loaded = not hasattr(self, "_session_cache")
        return self._stored or (self.session_key is not None and never_loaded)

    def _for_new_id(self, keep_data: bool) -> tuple[dict[str, Any], Cookie | None]:
        if keep_data:
            return dict(self._session), self.cookie
        return {}, None

    def _rotate_id(self, data: dict[str, Any], cookie: Cookie | None) -> None:
        # Unlike _start_new, the original id and data stay: the new id makes the session
        # "modified", so it is saved and its cookie sent, as express does.
        self._session_key = self._generate_id()
        self._session_cache = data
        self._cookie = cookie or self._new_cookie()
        self._stored = False
        self._known = None
        self._in_store = {}
        self.modified = True

    def _end(self, *, destroyed: bool) -> None:
        self.ended = True
        if destroyed:
            self.destroyed = True
            self._stored = False
            self._session_cache = {}
        else:
            self._start_new(self._generate_id() if self.request is not None else None)

    def _bind(self, sid: str | None, loaded: Versioned) -> None:
        data = {key: value for key, value in loaded.record.items() if key != "cookie"}
        self._session_key = sid
        self._session_cache = data
        self._cookie = Cookie.from_json(loaded.record["cookie"])
        self._stored = True
        self._known = loaded
        self._in_store = record.fingerprint(data)

    def _bind_or_forget(self, sid: str | None, loaded: Versioned | None) -> None:
        if loaded is None:
            self._start_new(None)  # Django: an unknown key is never adopted
        else:
            self._begin(sid, loaded)

    def _rebind(self, loaded: Versioned | None) -> None:
        if loaded is None:
            raise UpdateError(f"failed to load session {sid_hint(self.session_key)}")
        self._bind(self.session_key, loaded)

    def _forget_if_own(self, key: str) -> None:
        if key == self.session_key:
            self._stored = False
            self._known = None

    def _record(self) -> record.Record:
        return {"cookie": self.cookie.to_json(), **self._session_cache}

    def _changes(self, fingerprint: dict[str, str]) -> record.Changes:
        assigned, deleted = record.diff(self._in_store, fingerprint, self._session_cache)
        return record.Changes(self.cookie.to_json(), assigned, deleted)

    def _written(self, fingerprint: dict[str, str]) -> None:
        self._stored = True
        self._known = None
        self._in_store = fingerprint

    def _write(self, fingerprint: dict[str, str], must_create: bool = False) -> None:
        if self._stored and not must_create:
            run(plans.update(self.session_key, self._changes(fingerprint), self._known), self.store)
        else:
            for _ in range(CREATE_ATTEMPTS):
                try:
                    self._call(self.store.create, self.session_key, self._record())
                    break
                except CreateError:
                    if not self._retry_create_with_new_id():
                        return
                except InvalidSessionId as error:
                    self._give_up_create(error)
                    return
            else:
                self._give_up_create()
                return
        self._written(fingerprint)

    async def _awrite(self, fingerprint: dict[str, str], must_create: bool = False) -> None:
        if self._stored and not must_create:
            changes = self._changes(fingerprint)
            await arun(plans.update(self.session_key, changes, self._known), self.store)
        else:
            for _ in range(CREATE_ATTEMPTS):
                try:
                    await self._acall(self.store.acreate, self.session_key, self._record())
                    break
                except CreateError:
                    if not self._retry_create_with_new_id():
                        return
                except InvalidSessionId as error:
                    self._give_up_create(error)
                    return
            else:
                self._give_up_create()
                return
        self._written(fingerprint)

    def _retry_create_with_new_id(self) -> bool:
        """Take a new id after a collision; False when genid gave nothing usable."""
        logger.warning(
            "session id %s is already in use; generating another", sid_hint(self.session_key)
        )
        sid = self._generate_id()
        if sid is None:
            return False  # detached, and logged, by _generate_id
        if self._original_id == self._session_key:
            self._original_id = sid  # still the same, new, session
        self._session_key = sid
        return True

    def _give_up_create(self, reason: object = "genid keeps returning ids in use") -> None:
        logger.error("%s: this session will not be saved", reason)
        self.detached = True

    def _read(self, sid: str | None) -> Versioned | None:
        if sid is None:
            return None
        try:
            return self._call(self.store.read, sid, touch=self._touch_on_read)
        except CorruptRecord as error:
            logger.warning("session %s: %s; treated as missing", sid_hint(sid), error)
            return None

    async def _aread(self, sid: str | None) -> Versioned | None:
        if sid is None:
            return None
        try:
            return await self._acall(self.store.aread, sid, touch=self._touch_on_read)
        except CorruptRecord as error:
            logger.warning("session %s: %s; treated as missing", sid_hint(sid), error)
            return None

    @property
    def _touch_on_read(self) -> bool:
        # Only a request's load may touch: it will touch at the end anyway, unless resave
        # makes it write the whole record.
        return self.request is not None and not self.options.resave

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except self.store.connection_errors as error:
            raise StoreUnavailable(
                f"the {self.store.name} session store is unreachable: {error}"
            ) from error

    async def _acall(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except self.store.connection_errors as error:
            raise StoreUnavailable(
                f"the {self.store.name} session store is unreachable: {error}"
            ) from error


_COOKIE_ATTRIBUTES = {
    "path": "path",
    "httpOnly": "http_only",
    "secure": "secure",
    "domain": "domain",
    "sameSite": "same_site",
    "partitioned": "partitioned",
    "priority": "priority",
}


def _differs(fingerprint: dict[str, str], other: dict[str, str]) -> bool:
    # Order counts, as it does in express's hash of JSON.stringify.
    return list(fingerprint.items()) != list(other.items())
