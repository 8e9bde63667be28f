"""What a session remembers between its load and the response: express-session's
bookkeeping (``originalId``, ``originalHash``, ``savedHash``, ``cookieId``) plus what the
store holds, as one value with named transitions (each gives a new value; none
changes one in place).

A *fingerprint* is each top-level value's JSON (``record.fingerprint``): comparing two
tells whether the data changed (key order included, as express's hash of
``JSON.stringify`` does) and which keys one request set or deleted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from .ops import Versioned

Fingerprint = dict[str, str]

#: The record's one key of this package's own: a small dict that Node apps carry through
#: untouched and Django code does not see as data. It holds the absolute clock's start
#: (``startedAt``, epoch ms) and, with ``track``, the client details (``createdAt``,
#: ``lastSeenAt``, ``ip``, ``userAgent``, ``writtenBy``, ``digest``).
OWN_KEY = "djangoExpressSession"


def own_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A copy of the record's ``OWN_KEY`` dict (None: it has none, or not a dict)."""
    value = record.get(OWN_KEY)
    return dict(value) if isinstance(value, Mapping) else None


def own_moment(own: Mapping[str, Any] | None, key: str) -> int | None:
    """An epoch-ms field of the ``OWN_KEY`` dict (None: absent or not a number)."""
    moment = None if own is None else own.get(key)
    if isinstance(moment, bool) or not isinstance(moment, (int, float)):
        return None
    return int(moment)


class Mode(enum.Enum):
    #: The session of this request; saved at the end if the decision says so.
    LIVE = "live"
    #: Never saved nor sent: its id was unusable, or the store was down and the project
    #: chose to go on without sessions (as express does on ``disconnect``).
    DETACHED = "detached"
    #: ``destroy()``: the record is gone and nothing more is saved in this response.
    DESTROYED = "destroyed"
    #: ``flush()`` ended the loaded session; a new, empty one replaces it (saved only if
    #: written to), and the browser's cookie is cleared if nothing replaces it.
    ENDED = "ended"


def _differs(one: Fingerprint, other: Fingerprint) -> bool:
    # Equal dicts may still differ in key order, which express's hash sees.
    return one is not other and (one != other or list(one) != list(other))


# Made for every request and again at each transition: slotted and not frozen, since a
# frozen dataclass pays an object.__setattr__ per field. Nothing assigns to it: every
# change is a transition that returns a new value.
@dataclass(slots=True)
class SessionState:
    #: The session's id (None: no id could be had, or a standalone session not created).
    sid: str | None
    #: The id the request's validly signed cookie carried (express's ``cookieId``).
    cookie_sid: str | None = None
    mode: Mode = Mode.LIVE
    #: The id and data as loaded (express's ``originalId`` and ``originalHash``).
    original_id: str | None = None
    original: Fingerprint = field(default_factory=dict)
    #: The data as last saved, and under which id (express's ``savedHash``); None: never.
    saved: Fingerprint | None = None
    saved_id: str | None = None
    #: The store holds a record of ``sid``, with this data.
    stored: bool = False
    in_store: Fingerprint = field(default_factory=dict)
    #: The record as this request read it, for the first compare-and-set (None: re-read).
    version: Versioned | None = None
    #: The store refreshed the expiry while reading, so no touch is owed.
    touched_on_read: bool = False
    #: The store-level expiry and last write or touch as read (epoch ms; None: unknown).
    store_expires_at: int | None = None
    store_touched_at: int | None = None
    #: The record's ``OWN_KEY`` dict as this session holds it (None: none), and
    #: whether this request changed it on a stored session (it is then written back).
    own: Mapping[str, Any] | None = None
    own_changed: bool = False

    # -- transitions ----------------------------------------------------------------------

    @classmethod
    def new(cls, sid: str | None, cookie_sid: str | None = None) -> SessionState:
        """A brand-new session, as for a visitor without a (usable) cookie. Without any
        id it is one shared value (a state is never changed in place): every session is
        made keyless first, then opened or started."""
        if sid is None and cookie_sid is None:
            return _UNKEYED
        return cls(sid=sid, cookie_sid=cookie_sid, original_id=sid)

    @classmethod
    def loaded(
        cls,
        sid: str,
        loaded: Versioned,
        fingerprint: Fingerprint,
        *,
        cookie_sid: str | None,
        resave: bool,
    ) -> SessionState:
        """A stored session read for this request (with ``resave``, express counts it as
        never saved, so it is written back whatever happens)."""
        return cls(
            sid=sid,
            cookie_sid=cookie_sid,
            original_id=sid,
            original=fingerprint,
            saved=None if resave else fingerprint,
            saved_id=sid,
            stored=True,
            in_store=fingerprint,
            version=loaded,
            touched_on_read=loaded.touched,
            store_expires_at=loaded.expires_at,
            store_touched_at=loaded.touched_at,
            own=own_of(loaded.record),
        )

    def reloaded(self, loaded: Versioned, fingerprint: Fingerprint) -> SessionState:
        """``reload()``: the latest record replaces unsaved changes; express's original
        and saved hashes are kept."""
        return self._with(
            stored=True,
            in_store=fingerprint,
            version=loaded,
            store_expires_at=loaded.expires_at,
            store_touched_at=loaded.touched_at,
            own=own_of(loaded.record),
            own_changed=False,
        )

    def rotated(self, sid: str | None) -> SessionState:
        """A new id (``regenerate``, ``cycle_key``): nothing stored under it yet. The
        original id stays, so the session counts as modified and is saved and sent."""
        return self._with(sid=sid, stored=False, in_store={}, version=None)

    def renewed(self, sid: str | None, fingerprint: Fingerprint) -> SessionState:
        """``create()``: a new id for the data so far, about to be stored at once."""
        fresh = self.new(sid, self.cookie_sid)
        return fresh._with(saved=fingerprint, saved_id=sid, mode=self.mode, own=self.own)

    def ended(self, sid: str | None) -> SessionState:
        """``flush()``: the loaded session is over; a new empty one takes its place."""
        return self.new(sid, self.cookie_sid)._with(mode=Mode.ENDED)

    def destroyed(self) -> SessionState:
        return self._with(mode=Mode.DESTROYED, stored=False, version=None)

    def detached(self) -> SessionState:
        return self._with(mode=Mode.DETACHED)

    def saved_as(self, fingerprint: Fingerprint) -> SessionState:
        """An explicit ``save()`` (express's ``savedHash``), before the write itself."""
        return self._with(saved=fingerprint, saved_id=self.sid)

    def written(self, sid: str, fingerprint: Fingerprint) -> SessionState:
        """The store now holds ``fingerprint`` under ``sid`` (which differs from ``sid``
        when creating collided with an id in use and a fresh one was taken)."""
        collided = sid != self.sid
        return self._with(
            sid=sid,
            original_id=sid if collided and self.original_id == self.sid else self.original_id,
            saved_id=sid if collided and self.saved_id == self.sid else self.saved_id,
            stored=True,
            in_store=fingerprint,
            version=None,
            own_changed=False,
        )

    def with_own(self, own: Mapping[str, Any] | None, *, changed: bool) -> SessionState:
        """The ``OWN_KEY`` dict set (``changed``: to be written back)."""
        return self._with(own=own, own_changed=changed)

    def adopted(self, version: Versioned | None) -> SessionState:
        """A record taken over from elsewhere under a new id for the browser: no original
        id, so the session counts as modified and its cookie is sent; ``version`` is the
        record as read, for the first compare-and-set (None: just created)."""
        return self._with(original_id=None, version=version)

    def forgotten(self) -> SessionState:
        """Its record was deleted by ``delete()``: nothing is stored under ``sid``."""
        return self._with(stored=False, version=None)

    def _with(self, **changes: Any) -> SessionState:
        """A copy with ``changes``: ``dataclasses.replace`` without its look at every
        field's definition on each call (a request makes one or two)."""
        values = dict(zip(_FIELDS, _field_values(self), strict=True))
        values.update(changes)
        return SessionState(**values)

    # -- what the decision asks -----------------------------------------------------------

    @property
    def is_new(self) -> bool:
        """express's "new": the cookie did not name this session."""
        return self.cookie_sid != self.sid

    @property
    def was_saved(self) -> bool:
        """express's ``savedHash`` is set (saved by hand, or loaded without resave)."""
        return self.saved is not None

    def is_modified(self, fingerprint: Fingerprint) -> bool:
        """express's ``isModified``: another id, or other data."""
        return self.sid != self.original_id or _differs(fingerprint, self.original)

    def is_saved(self, fingerprint: Fingerprint) -> bool:
        """express's ``isSaved``: this data was saved under this id. (express compares
        with the id as loaded, so a regenerated session saved by hand is written twice.)"""
        return (
            self.saved is not None
            and self.saved_id == self.sid
            and not _differs(fingerprint, self.saved)
        )


_FIELDS = tuple(each.name for each in fields(SessionState))
_field_values = attrgetter(*_FIELDS)
#: ``SessionState.new`` without any id.
_UNKEYED = SessionState(sid=None)
