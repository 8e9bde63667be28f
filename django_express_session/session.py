"""``request.session``: Django's session API over an express-session record.

``SESSION_ENGINE = "django_express_session.session"`` makes this module the engine. The
class keeps Django's whole dict API (and its ``a*`` twins) and adds express's session
methods (``id``, ``cookie``, ``regenerate``, ``destroy``, ``reload``, ``save``,
``touch``). What it remembers for the end-of-request decision is one ``SessionState``;
every method that talks to the backend is a plan (a generator of store operations)
that the plain method runs with ``run`` and its ``a*`` twin with ``arun``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string

from . import conf, lifetime, recent_auth, record, signals, tracking
from .compat import session_data
from .conf import Options
from .cookie import Cookie
from .core import plans
from .core.decide import Decision
from .core.drive import arun, run
from .core.lifetime import Lifetime, clock, ends_at, now_ms, seconds_until
from .core.ops import Plan, Versioned
from .core.state import OWN_KEY, Fingerprint, Mode, SessionState, own_moment
from .exceptions import StoreUnavailable, UpdateError
from .http import is_secure
from .record import sid_hint
from .stores.base import Store

logger = logging.getLogger("django_express_session")

#: The JSON values no code can change in place.
_UNCHANGEABLE = frozenset({str, int, float, bool, type(None)})
#: What ``_displaced`` keeps for a key the bound data did not have.
_ABSENT = object()


class SessionStore(SessionBase):
    """A session: Django's ``SessionBase`` with express-session's model underneath.

    (Django's engine convention names the session class ``SessionStore``; the backend
    it reads and writes is ``self.store``.)
    """

    #: The id a deferred session's cookie names, its record not read yet (``deferred``).
    _deferred_sid: str | None = None
    #: What reading a deferred session's record raised (the middleware answers 503).
    deferred_failure: StoreUnavailable | None = None

    def __init__(
        self, session_key: str | None = None, *, request: HttpRequest | None = None
    ) -> None:
        self.options: Options = conf.get_options()
        self.store: Store = conf.get_store()
        #: The request this session is of (None: used outside a request, a shell).
        self.request = request
        self._cookie: Cookie | None = None
        #: The stored cookie (and the id it is of) that ``cookie`` is built from when
        #: first asked for: a request that never sends nor changes it never builds it.
        self._stored_cookie: tuple[dict[str, Any], str | None] | None = None
        #: The backend's own keys of the record as read (``Store.metadata_keys``).
        self._metadata: dict[str, Any] = {}
        #: The session the cookie named was ended at its absolute cap by this read.
        self._ended_at_cap = False
        #: The moment ``set_expiry`` was last given (Django keeps a given datetime as it
        #: is; every other expiry is an idle timeout).
        self._expiry_moment: datetime | None = None
        #: The data as last bound or started, and its fingerprint (see ``_fingerprint``).
        self._bound: tuple[dict[str, Any], Fingerprint] | None = None
        #: The bound fingerprint is not computed yet: the bound data was never handed
        #: out but as values no code can change in place (``_fill_bound``).
        self._pristine = False
        #: Since the bound fingerprint was filled, the data changed only by these keys
        #: set (``__setitem__``, ``aset``), in this order, and nothing was handed out;
        #: None: anything may have changed.
        self._assigned: dict[str, None] | None = None
        #: While the bound fingerprint waits (``_pristine``), the keys set since binding
        #: and the values they had then (``_ABSENT``: none): the bound data is the data
        #: with these put back (``_fill_bound``).
        self._displaced: dict[str, Any] = {}
        # What ``SessionBase.__init__`` sets, without its import of SESSION_SERIALIZER per
        # session: this engine's records are JSON it writes itself (``serializer`` below).
        self._session_key = session_key  # sets the state
        self.accessed = False
        self.modified = False

    @property
    def serializer(self) -> Any:
        """Django's ``SESSION_SERIALIZER``, for ``SessionBase.encode``/``decode``."""
        return import_string(settings.SESSION_SERIALIZER)

    # Django keeps the id in ``_session_key``; here it is the state's ``sid``.
    def _get_session_key(self) -> str | None:
        return self.state.sid

    def _set_session_key(self, value: Any) -> None:
        self.state = SessionState.new(value if self._validate_session_key(value) else None)

    session_key = property(_get_session_key)
    _session_key = property(_get_session_key, _set_session_key)

    # -- built by the middleware ----------------------------------------------------------

    @classmethod
    def opening(cls, request: HttpRequest, cookie_sid: str | None) -> Plan:
        """The session of a request: loaded when the cookie names a stored one, else new."""
        return (yield from cls(request=request)._opening(cookie_sid))

    @classmethod
    def adopted(
        cls, request: HttpRequest, sid: str, loaded: Versioned, *, created: bool
    ) -> SessionStore:
        """The session of a record this request took over from elsewhere (``migrateFrom``'s
        old engine): under a new id for the browser, so the cookie is sent (the session
        counts as modified, as a regenerated one does). ``created``: the record was
        stored just now, by this request; else it was converted earlier (by another
        request, or by ``migratesessions``, which knows no request) and is rewritten with
        the cookie this request gives a new session."""
        return cls(request=request)._adopting(sid, loaded, created=created)

    @classmethod
    def for_request(cls, request: HttpRequest, cookie_sid: str | None) -> SessionStore:
        return run(cls.opening(request, cookie_sid), conf.get_store())

    @classmethod
    async def afor_request(cls, request: HttpRequest, cookie_sid: str | None) -> SessionStore:
        return await arun(cls.opening(request, cookie_sid), conf.get_store())

    @classmethod
    def deferred(cls, request: HttpRequest, cookie_sid: str) -> SessionStore:
        """The session of a request whose record is read only when something uses it
        (its data, its id, its cookie): its view may never do so
        (``opening.defers_loading``). Until then it has no ``state``."""
        session = cls(request=request)
        del session.state
        session._deferred_sid = cookie_sid
        return session

    @property
    def deferred_sid(self) -> str | None:
        """The id of a deferred session nothing used yet (None: not deferred, or read)."""
        return self._deferred_sid

    def undeferring(self) -> Plan:
        """Read a deferred session's record now, as its first use would."""
        if self._deferred_sid is not None:
            yield from self._loading()

    def __getattr__(self, name: str) -> Any:
        # Reached only for a missing attribute: the state of a deferred session, which
        # its first use reads.
        if name == "state" and self._deferred_sid is not None:
            self.load()
            return self.state
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _get_session(self, no_load: bool = False) -> dict[str, Any]:
        data = self._data(no_load)
        self._fill_bound()  # its caller may change anything in it
        return data

    # (SessionBase's property is bound to SessionBase._get_session.)
    _session = property(_get_session)

    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        data = await self._adata(no_load)
        self._fill_bound()
        return data

    def _data(self, no_load: bool = False) -> dict[str, Any]:
        """The data, loaded and marked accessed, as ``_get_session`` gives it, but not
        yet handed out (see ``_fill_bound``)."""
        if self._deferred_sid is not None and not no_load:
            self.accessed = True
            return self.load()  # (Django's would ask for the id first: the read itself)
        return super()._get_session(no_load)

    async def _adata(self, no_load: bool = False) -> dict[str, Any]:
        if self._deferred_sid is not None and not no_load:
            self.accessed = True
            return await self.aload()
        return await super()._aget_session(no_load)

    # The commonest reads (Django's auth and messages, a view's ``get``) hand out one
    # value: a value no code can change in place leaves the fingerprint unneeded.
    def __getitem__(self, key: str) -> Any:
        return self._lent(self._data()[key])

    def get(self, key: str, default: Any = None) -> Any:
        return self._lent(self._data().get(key, default))

    async def aget(self, key: str, default: Any = None) -> Any:
        return self._lent((await self._adata()).get(key, default))

    def __contains__(self, key: str) -> bool:
        return key in self._data()

    def _lent(self, value: Any) -> Any:
        if type(value) not in _UNCHANGEABLE:
            self._fill_bound()
        return value

    # The commonest write sets a key: the decision's fingerprint is then the bound one
    # with that key's value encoded again, not the whole data.
    def __setitem__(self, key: str, value: Any) -> None:
        data = self._data()
        self._assigning(key)
        data[key] = value
        self.modified = True

    async def aset(self, key: str, value: Any) -> None:
        data = await self._adata()
        self._assigning(key)
        data[key] = value
        self.modified = True

    def _assigning(self, key: str) -> None:
        if self._pristine:
            bound = self._bound
            if bound is not None and bound[0] is self._session_cache:
                # The bound fingerprint may wait still: the value this key had is kept
                # (a view that sets one key of a large record encodes only that key).
                self._displaced.setdefault(key, bound[0].get(key, _ABSENT))
                return
            self._fill_bound()
            self._assigned = {}
        if self._assigned is not None:
            self._assigned[key] = None

    @classmethod
    def detached_for(cls, request: HttpRequest) -> SessionStore:
        """An in-memory session that is never saved nor sent (store down, and the project
        prefers to go on without sessions, as express does on ``disconnect``)."""
        return cls(request=request)._detached()

    # -- express's session API ------------------------------------------------------------

    @property
    def id(self) -> str | None:
        return self.session_key

    @property
    def cookie(self) -> Cookie:
        if self._cookie is None and self._stored_cookie is None:
            # Loads the record, and with it the cookie (a deferred session's read is no
            # use of its data: not ``accessed``, as when the middleware read it).
            self.load() if self._deferred_sid is not None else self._get_session()
        if self._cookie is None and self._stored_cookie is not None:
            self._cookie = self._cookie_as_stored()
        if self._cookie is None:
            self._cookie = self._new_cookie()
        return self._cookie

    @property
    def expiry_changed(self) -> bool:
        """Code changed the cookie's expiry in this request (not: a stored cookie no code
        has asked for, which nothing can have changed)."""
        return self._cookie is not None and self._cookie.expiry_changed

    def touch(self) -> SessionStore:
        """Reset the cookie's expiry to ``original_max_age`` from now."""
        self.cookie.reset_max_age()
        return self

    def regenerate(self, keep_data: bool = False) -> None:
        """New id and fresh cookie; the old record is destroyed now. The data is dropped,
        as in express, unless ``keep_data`` (Django's ``cycle_key``)."""
        run(self._regenerating(keep_data), self.store)

    async def aregenerate(self, keep_data: bool = False) -> None:
        await arun(self._regenerating(keep_data), self.store)

    def destroy(self) -> None:
        """Remove the record now; nothing is saved in this response and the browser's
        cookie is cleared."""
        run(self.destroying(), self.store)

    async def adestroy(self) -> None:
        await arun(self.destroying(), self.store)

    def reload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        run(self._reloading(), self.store)

    async def areload(self) -> None:
        await arun(self._reloading(), self.store)

    def save(self, must_create: bool = False) -> None:
        """Write the session now (only this request's changes, onto the latest record)."""
        run(self._saving(must_create), self.store)

    async def asave(self, must_create: bool = False) -> None:
        await arun(self._saving(must_create), self.store)

    # -- Django's engine API --------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        return run(self._loading(), self.store)

    async def aload(self) -> dict[str, Any]:
        return await arun(self._loading(), self.store)

    def exists(self, session_key: str | None) -> bool:
        return bool(session_key) and run(self._reading(session_key), self.store) is not None

    async def aexists(self, session_key: str | None) -> bool:
        return bool(session_key) and await arun(self._reading(session_key), self.store) is not None

    def create(self) -> None:
        """A new id, saved at once with the data set so far (Django's contract)."""
        run(self._creating(), self.store)

    async def acreate(self) -> None:
        await arun(self._creating(), self.store)

    def delete(self, session_key: str | None = None) -> None:
        run(self._deleting(session_key), self.store)

    async def adelete(self, session_key: str | None = None) -> None:
        await arun(self._deleting(session_key), self.store)

    def cycle_key(self) -> None:
        """What ``login()`` calls: a new id that keeps the data (fixation defence)."""
        self.regenerate(keep_data=True)

    async def acycle_key(self) -> None:
        await self.aregenerate(keep_data=True)

    def flush(self) -> None:
        """What ``logout()`` calls: the record is destroyed and a new, empty session
        starts (saved only if something is written to it)."""
        run(self._flushing(signals.flush_reason()), self.store)

    async def aflush(self) -> None:
        await arun(self._flushing(signals.flush_reason()), self.store)

    def data_without_access(self) -> dict[str, Any] | None:
        """The session's data as loaded (None: not loaded yet), read without marking
        the session accessed (so no ``Vary: Cookie``); for code that must look before
        the view does, such as the ``passport`` bridge. Do not change it."""
        return session_data(self)

    def is_empty(self) -> bool:
        return not self.state.stored and not getattr(self, "_session_cache", None)

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
        self._expiry_moment = None
        if value is None:
            # Read now, not at the session's start: Django's settings-driven default.
            cookie.max_age = conf.get_options().cookie_for(self.request).given.get("maxAge")
        elif isinstance(value, datetime):
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
            cookie.expires = self._expiry_moment = value
        elif isinstance(value, timedelta):
            cookie.max_age = value
        elif value == 0:
            cookie.max_age = None
        else:
            cookie.max_age = value * 1000

    async def aset_expiry(self, value: int | datetime | timedelta | None) -> None:
        await self._aget_session()
        self.set_expiry(value)

    def _expiry(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Django's ``modification``/``expiry`` arguments. Without ``expiry``: a moment
        given to ``set_expiry`` stands as it is; otherwise the idle timeout
        (``original_max_age``) counts from ``modification`` (now by default), as the
        store's expiry does once this request touches it, and never past the absolute
        cap. A browser-session cookie has none (Django then uses SESSION_COOKIE_AGE)."""
        if "expiry" in kwargs:
            return kwargs
        cookie = self.cookie
        expires, idle_ms = cookie.expires, cookie.original_max_age
        if not isinstance(expires, datetime):
            return {**kwargs, "expiry": None}
        if expires == self._expiry_moment or isinstance(idle_ms, bool) or idle_ms is None:
            return {**kwargs, "expiry": expires}
        modification = kwargs.get("modification") or clock.now()
        end = modification + timedelta(milliseconds=idle_ms)
        if self._cap_at is not None:
            end = min(end, _EPOCH + timedelta(milliseconds=self._cap_at))
        return {**kwargs, "modification": modification, "expiry": end}

    def get_expiry_age(self, **kwargs: Any) -> int:
        return super().get_expiry_age(**self._expiry(kwargs))

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        await self._aget_session()
        return self.get_expiry_age(**kwargs)

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        return super().get_expiry_date(**self._expiry(kwargs))

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        await self._aget_session()
        return self.get_expiry_date(**kwargs)

    def get_expire_at_browser_close(self) -> bool:
        return not isinstance(self.cookie.expires, datetime)

    async def aget_expire_at_browser_close(self) -> bool:
        await self._aget_session()
        return self.get_expire_at_browser_close()

    def _validate_session_key(self, key: Any) -> bool:
        # Django's rule for keys given to SessionStore(key): at least 8 characters. Ids
        # from cookies and genid are express's: any non-empty string.
        return isinstance(key, str) and len(key) >= 8

    # -- what the middleware needs --------------------------------------------------------

    def fingerprint_for_decision(self) -> Fingerprint:
        """express touches the session before deciding (``cookie.maxAge`` restarts), then
        hashes the data: do both. The restarted expiry never runs past the absolute cap."""
        self.cookie.reset_max_age()
        self._cap_cookie()
        return self._fingerprint()

    def unchanged_fingerprint(self) -> Fingerprint | None:
        """The fingerprint the data was bound with, when the data is still the bound
        dict and no code accessed it (Django's ``accessed``, set by every read and write
        of it) but for unchangeable values (``_pristine``), nor marked it modified: then
        it holds what it was bound with. None when that cannot be told without encoding
        (nothing is computed here)."""
        bound = self._bound
        if (
            bound is not None
            and bound[0] is getattr(self, "_session_cache", None)
            and (self._pristine or not self.accessed)
            and not self._displaced
            and not self.modified
        ):
            return bound[1]
        return None

    def _fingerprint(self) -> Fingerprint:
        """The data's fingerprint. A session left as bound (``unchanged_fingerprint``)
        gives the bound fingerprint, the same object (so it is never compared), with no
        new encoding. One changed only by keys set (``_assigned``) encodes only those."""
        unchanged = self.unchanged_fingerprint()
        if unchanged is not None:
            return unchanged
        bound = self._bound
        data = self._session_cache
        if self._displaced and bound is not None and bound[0] is data and not self.options.track:
            return self._fingerprint_of_displaced(bound[1], data)
        if bound is not None and bound[0] is data and self._assigned is not None:
            # Keys set keep their place, new ones follow in the order they were set, as
            # in the data itself.
            assigned = record.fingerprint({key: data[key] for key in self._assigned})
            return {**bound[1], **assigned}
        self._fill_bound()
        return record.fingerprint(data)

    def _fingerprint_of_displaced(self, bound: Fingerprint, data: dict[str, Any]) -> Fingerprint:
        """The fingerprint of only the keys set since binding (``_displaced``), with the
        bound fingerprint filled (in place) with only what they held then: every other
        key holds what it was bound with, so comparing these two says what comparing
        the whole ones would (key order included: the keys keep the data's order, a
        new key comes last in both). ``_fill_bound`` fills the whole one when needed."""
        displaced = self._displaced
        before = {}
        for key in data:
            if key in displaced and displaced[key] is not _ABSENT:
                before[key] = displaced[key]
        bound.clear()
        bound.update(record.fingerprint(before))
        return record.fingerprint({key: value for key, value in data.items() if key in displaced})

    def _fill_bound(self) -> None:
        """Compute the bound fingerprint (in place: the state holds it), before any
        code may change the bound data or another fingerprint is compared with it.
        Until then only its identity is used: ``_fingerprint`` gives that very object
        for unchanged data, which ``SessionState`` never compares."""
        self._assigned = None  # (the caller may change anything)
        if self._pristine:
            self._pristine = False
            data, fingerprint = self._bound  # type: ignore[misc]
            displaced, self._displaced = self._displaced, {}
            if displaced:  # the bound data: the keys set since put back as they were
                data = {key: displaced.get(key, value) for key, value in data.items()}
                data = {key: value for key, value in data.items() if value is not _ABSENT}
            fingerprint.clear()  # (``_fingerprint_of_displaced`` may have filled a part)
            fingerprint.update(record.fingerprint(data))

    def lifetime_facts(self, request: HttpRequest) -> dict[str, Any]:
        """The decision's lifetime and ``track`` facts (``core.decide.Facts``), after
        ``fingerprint_for_decision``."""
        touch_after_ms = self._lifetime.touch_after_ms
        fresh = None
        if touch_after_ms and self.state.stored:
            fresh = self.store.fresh_expiry(self._record())
        return {
            "passive": lifetime.is_passive(request),
            "touch_after_ms": touch_after_ms,
            "now_ms": now_ms(),
            "fresh_expires_at": fresh,
            "visit_interval_ms": self._lifetime.visit_interval_ms() if self.options.track else None,
        }

    # -- the two clocks -------------------------------------------------------------------

    @property
    def expires_in(self) -> int | None:
        """Whole seconds until the session ends by either clock: the idle timeout (the
        expiry the store holds, else the cookie's) or the absolute cap; None when it
        has no expiry. A request that touches the session moves the idle end later
        when it completes; ``views.session_status`` reads it without touching."""
        self._get_session()
        idle = self.state.store_expires_at if self.state.stored else None
        if idle is None:
            expires = self.cookie.expires
            idle = record.to_epoch_ms(expires) if isinstance(expires, datetime) else None
        return seconds_until(ends_at(idle, self._cap_at), now_ms())

    # -- recent authentication (``recent_auth``) ------------------------------------------

    @property
    def auth_age(self) -> int | None:
        """Whole seconds since the user last proved who they are (``login()``, or
        ``mark_authenticated()``), on either app; None if never."""
        self._get_session()
        return recent_auth.auth_age(self.state.own, now_ms())

    def mark_authenticated(self) -> None:
        """The user just proved who they are (a password re-check): ``auth_age``
        restarts; the record is written at the end of the request."""
        self._get_session()
        own = recent_auth.authenticated(self.state.own, now_ms())
        self.state = self.state.with_own(own, changed=True)

    @property
    def absolute_expires_in(self) -> int | None:
        """Whole seconds until the absolute cap, or None without ``absoluteMaxAge``."""
        self._get_session()
        return seconds_until(self._cap_at, now_ms())

    def restart_lifetime(self) -> None:
        """Start the absolute clock now (``absoluteMaxAgeFrom: "login"`` calls it at
        ``login()``); a stored session's record is written at the end of the request."""
        if self._lifetime.absolute_max_age_ms is not None:
            own = self._lifetime.started(self.state.own, now_ms())
            self.state = self.state.with_own(own, changed=True)

    @property
    def _lifetime(self) -> Lifetime:
        return self.options.lifetime

    @property
    def _started_at(self) -> int | None:
        return own_moment(self.state.own, "startedAt")

    @property
    def _cap_at(self) -> int | None:
        return self._lifetime.cap_at(self._started_at)

    def _start_lifetime(self) -> None:
        """A new session's clock (only with ``absoluteMaxAge``: otherwise the record
        gets no key of this package's)."""
        self.state = self.state.with_own(self._lifetime.started(None, now_ms()), changed=False)

    def _cap_cookie(self) -> None:
        cap = self._cap_at
        if cap is not None:
            self.cookie.end_by(_EPOCH + timedelta(milliseconds=cap))

    def _cookie_json(self) -> dict[str, Any]:
        self._cap_cookie()
        return self.cookie.to_json()

    def finishing(self, decision: Decision, fingerprint: Fingerprint) -> Plan:
        """Carry out the end-of-request decision; return the id the browser's cookie may
        name (None when no record stands behind it)."""
        if decision.destroy and self.state.stored:
            yield from plans.destroy(self.state.sid)
            self.state = self.state.forgotten()
            signals.ended(self, self.state.sid, "destroy")
        if decision.save:
            yield from self._writing(fingerprint)
        elif decision.touch:
            yield from plans.touch(self.state.sid, self._record())
        return self.state.sid if self.state.stored else None

    # -- plans ----------------------------------------------------------------------------

    def _reading(self, sid: str) -> Plan:
        # Only a request's load may touch: it will touch at the end anyway, unless resave
        # makes it write the whole record, or its view leaves the session as it is.
        touch = self.request is not None and not self.options.resave
        if touch and self.store.touches_on_read:
            touch = not lifetime.is_passive(self.request, before_view=True)
        loaded = yield from plans.load(sid, touch=touch)
        if loaded is not None and self._lifetime.past_cap(loaded.record, now_ms()):
            # Whatever touched it meanwhile (an Express app), the session is over.
            yield from plans.destroy(sid)
            logger.info("session ended: absolute lifetime reached (session %s)", sid_hint(sid))
            self._ended_at_cap = True
            signals.ended(self, sid, "expired")
            return None
        return loaded

    def _ensuring_loaded(self) -> Plan:
        if not hasattr(self, "_session_cache"):
            yield from self._loading()

    def _loading(self) -> Plan:
        if self._deferred_sid is not None:
            # As the middleware would have opened it: a missing record, a new session.
            try:
                yield from self._opening(self._deferred_sid)
            except StoreUnavailable as error:
                self.deferred_failure = error
                raise
            self._deferred_sid = None
            return self._session_cache
        sid = self.state.sid
        loaded = (yield from self._reading(sid)) if sid is not None else None
        if loaded is None:
            self._start(SessionState.new(None))  # Django: an unknown key is never adopted
        else:
            self._begin(sid, loaded, cookie_sid=self.state.cookie_sid)
        return self._session_cache

    def _saving(self, must_create: bool) -> Plan:
        if self.state.mode in (Mode.DESTROYED, Mode.DETACHED):
            return
        if self.state.sid is None:
            yield from self._creating()
            return
        if must_create:
            self._session_cache = getattr(self, "_session_cache", {})
        else:
            yield from self._ensuring_loaded()
            if self.state.sid is None:
                raise UpdateError("the session key names no stored session")  # as Django
        self._fill_bound()
        fingerprint = record.fingerprint(self._session_cache)
        self.state = self.state.saved_as(fingerprint)
        yield from self._writing(fingerprint, must_create)

    def _creating(self) -> Plan:
        data = getattr(self, "_session_cache", {})
        sid = self._new_id()
        self._fill_bound()
        fingerprint = record.fingerprint(data)
        self.state = self.state.renewed(sid, fingerprint)
        self._session_cache = data
        if sid is not None:
            yield from self._writing(fingerprint, must_create=True)
        self.modified = True

    def _writing(self, fingerprint: Fingerprint, must_create: bool = False) -> Plan:
        if not (self._pristine and self._displaced):  # (else both are of those keys only)
            self._fill_bound()  # (``fingerprint`` may be the bound one)
        if self.options.track:
            self._record_visit(fingerprint)
        state = self.state
        if state.stored and not must_create:
            assigned, deleted = record.diff(state.in_store, fingerprint, self._session_cache)
            if state.own_changed:
                assigned[OWN_KEY] = state.own
            changes = record.Changes(self._cookie_json(), assigned, deleted)
            yield from plans.update(state.sid, changes, state.version)
            self.state = state.written(state.sid, fingerprint)
            return
        if self._started_at is None and self._lifetime.absolute_max_age_ms is not None:
            # A session made outside a request has no clock yet.
            self.state = state.with_own(self._lifetime.started(state.own, now_ms()), changed=False)
        sid = yield from plans.create(state.sid, self._record, self._new_id)
        if sid is None:
            self.state = self.state.detached()
        else:
            self.state = self.state.written(sid, fingerprint)
            signals.created(self, sid)

    def _record_visit(self, fingerprint: Fingerprint) -> None:
        """``track``: every write by Django records the visit, the client details and
        a digest of what it writes (``tracking``)."""
        own = tracking.visited(
            self.state.own,
            now_ms=now_ms(),
            request=self.request,
            track=self.options.track,
            proxy=self.options.proxy,
            digest_of_record=tracking.digest(fingerprint, self._cookie_json()),
        )
        self.state = self.state.with_own(own, changed=True)

    def _regenerating(self, keep_data: bool) -> Plan:
        if keep_data:
            yield from self._ensuring_loaded()
            # A cookie function is asked anew, as express's regenerate always does.
            fresh = self.options.cookie_function is not None
            data, cookie = dict(self._session_cache), self._new_cookie() if fresh else self.cookie
        else:
            # Made before the old record goes: a bad cookie function loses nothing.
            data, cookie = {}, self._new_cookie()
            self._start_lifetime()  # a new session: its own absolute clock
        if self._may_be_stored:
            yield from plans.destroy(self.state.sid)
            signals.ended(self, self.state.sid, "regenerate")
        self._adopt_new_id(self.state.rotated)
        self._session_cache = data
        self._cookie = cookie
        self.modified = True

    def destroying(self, reason: str = "destroy") -> Plan:
        """The plan of ``destroy()``, for a caller that runs it among store operations
        of its own: ``users.end_sessions`` ends the request's own session so (with its
        own ``reason`` for ``session_ended``); nothing of it is saved afterwards."""
        if self._may_be_stored:
            yield from plans.destroy(self.state.sid)
            signals.ended(self, self.state.sid, reason)
        self.state = self.state.destroyed()
        self._session_cache = {}

    def _flushing(self, reason: str) -> Plan:
        stored = self._may_be_stored
        self.clear()
        if stored:
            yield from plans.destroy(self.state.sid)
            signals.ended(self, self.state.sid, reason)
        sid = self._new_id() if self.request is not None else None
        self._start(self.state.ended(sid))

    def _reloading(self) -> Plan:
        loaded = yield from self._reading(self.state.sid)
        if loaded is None:
            raise UpdateError(f"failed to load session {sid_hint(self.state.sid)}")
        fingerprint = self._bind(self.state.sid, loaded)
        self._fill_bound()  # compared with the original, which the state keeps
        self.state = self.state.reloaded(loaded, fingerprint)

    def _deleting(self, session_key: str | None) -> Plan:
        key = session_key or self.state.sid
        if key is not None:
            yield from plans.destroy(key)
            signals.ended(self, key, "destroy")
            if key == self.state.sid:
                self.state = self.state.forgotten()

    # -- state changes --------------------------------------------------------------------

    def _opening(self, cookie_sid: str | None) -> Plan:
        loaded = (yield from self._reading(cookie_sid)) if cookie_sid else None
        self._begin(cookie_sid, loaded, cookie_sid=cookie_sid)
        return self

    def _adopting(self, sid: str, loaded: Versioned, *, created: bool) -> SessionStore:
        self._begin(sid, loaded, cookie_sid=None)
        self.state = self.state.adopted(None if created else loaded)
        if not created:
            self._cookie = self._new_cookie()
            self._cookie.expiry_changed = True
        return self

    def _detached(self) -> SessionStore:
        self._start(SessionState.new(None).detached())
        return self

    def _begin(self, sid: str | None, loaded: Versioned | None, *, cookie_sid: str | None) -> None:
        if loaded is None:
            state = SessionState.new(self._new_id(), cookie_sid)
            if self._ended_at_cap:  # its cookie is cleared unless a new session replaces it
                state = state.ended(state.sid)
            self._start(state if state.sid is not None else state.detached())
        else:
            fingerprint = self._bind(sid, loaded)
            self.state = SessionState.loaded(
                sid, loaded, fingerprint, cookie_sid=cookie_sid, resave=self.options.resave
            )
            if self._lifetime.absolute_max_age_ms is not None and self._started_at is None:
                # A session made elsewhere (an Express app): its clock starts now.
                self.restart_lifetime()

    def _start(self, state: SessionState) -> None:
        """A new, empty session."""
        self.state = state
        self._session_cache = {}
        self._bound, self._pristine, self._assigned = (self._session_cache, {}), False, None
        self._displaced = {}
        self._cookie, self._stored_cookie = self._new_cookie(), None
        self._start_lifetime()

    def _bind(self, sid: str | None, loaded: Versioned) -> Fingerprint:
        hidden = self.store.metadata_keys
        data, self._metadata = {}, {}
        for key, value in loaded.record.items():
            if key in hidden:
                self._metadata[key] = value
            elif key != "cookie" and key != OWN_KEY:
                data[key] = value
        self._session_cache = data
        self._cookie, self._stored_cookie = None, (loaded.record["cookie"], sid)
        self._fill_bound()  # the state may still hold the one bound before (``reload``)
        fingerprint: Fingerprint = {}  # computed when needed (``_fill_bound``)
        self._bound, self._pristine, self._displaced = (data, fingerprint), True, {}
        return fingerprint

    def _cookie_as_stored(self) -> Cookie:
        stored, sid = self._stored_cookie  # type: ignore[misc]
        self._stored_cookie = None
        options = self.options
        defaults = (
            options.cookie.given
            if options.cookie_function is None
            else lambda: options.cookie_for(self.request).given  # only for a bad stored value
        )
        return Cookie.from_json(stored, sid=sid, defaults=defaults)

    def _adopt_new_id(self, transition: Any) -> None:
        sid = self._new_id()
        self.state = transition(sid) if sid is not None else transition(None).detached()

    @property
    def _may_be_stored(self) -> bool:
        # A key that was never loaded may name a record (Django's standalone use).
        state = self.state  # (a deferred session is read here, first)
        never_loaded = not hasattr(self, "_session_cache")
        return state.stored or (state.sid is not None and never_loaded)

    def _new_id(self) -> str | None:
        sid = self.options.genid(self.request)
        if isinstance(sid, str) and sid:
            return sid
        logger.error("genid returned %r, not a string: this session will not be saved", sid)
        return None

    def _record(self) -> record.Record:
        session = {"cookie": self._cookie_json(), **self._session_cache, **self._metadata}
        if self.state.own is not None:
            session[OWN_KEY] = self.state.own
        return session

    def _new_cookie(self) -> Cookie:
        """A cookie from the options (express ``store.generate``): ``"auto"`` values are
        resolved now, against this request."""
        return new_cookie(self.request, self.options)


def new_cookie(request: HttpRequest | None, options: Options) -> Cookie:
    """A new session's cookie for ``request`` (None: no request, ``"auto"`` is insecure)."""
    return Cookie.from_options(
        options.cookie_for(request).given,
        secure_request=lambda: request is not None and is_secure(request, options.proxy),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
