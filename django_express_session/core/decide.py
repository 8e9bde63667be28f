"""express-session's end-of-request decision, over plain facts.

``decide`` answers what ``index.js`` answers with ``shouldDestroy``, ``shouldSave``,
``shouldTouch`` and ``shouldSetCookie``, plus Django's safety rules (no save on a 5xx,
``Vary: Cookie``) and the deliberate differences of this port (a secure cookie that
cannot be sent saves no new session; a destroyed or flushed session clears the
browser's cookie; an expiry change re-sends the cookie). It reads no request and no
session object, so every row of express's truth table can be checked with values.

The two clocks (``touchAfter``, the absolute cap) are ``lifetime``'s: the decision gets
their values in ``Facts``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lifetime import refreshed_at, touch_due
from .state import Fingerprint, Mode, SessionState, own_moment


# Facts and Decision are made once per request and never changed: slotted and not
# frozen, since a frozen dataclass pays an object.__setattr__ per field (Facts has 17).
@dataclass(slots=True)
class Facts:
    """What the decision depends on besides the session's state."""

    #: ``request.session`` was set to None or deleted by the view.
    unset: bool = False
    #: The browser sent a cookie of the session's name (signed validly or not).
    had_cookie: bool = False
    status_code: int = 200
    #: The request arrived over HTTPS (under the ``proxy`` option's trust rules).
    secure_request: bool = False
    #: The view read or wrote the session (Django's ``accessed``).
    accessed: bool = False
    # The options.
    unset_destroys: bool = False
    save_uninitialized: bool = True
    rolling: bool = False
    # The session's cookie.
    expiry_changed: bool = False
    has_expiry: bool = False
    cookie_secure: bool = False
    # The lifetime.
    #: The view asked to leave the session as it is (a status poll): no save, no touch,
    #: no cookie, except clearing one whose session ended.
    passive: bool = False
    #: ``touchAfter`` in milliseconds (0: touch on every request, as express).
    touch_after_ms: int = 0
    now_ms: int = 0
    #: The store-level expiry a touch would give now (epoch ms; None: unknown).
    fresh_expires_at: int | None = None
    # Client details (``track``).
    #: How old the recorded visit (``lastSeenAt``) may get before a request that
    #: changes nothing writes it (ms; None: ``track`` is off).
    visit_interval_ms: int | None = None


@dataclass(slots=True)
class Decision:
    destroy: bool = False
    save: bool = False
    touch: bool = False
    #: express would have touched, ``touchAfter`` spared the store the write.
    touch_spared: bool = False
    set_cookie: bool = False
    clear_cookie: bool = False
    vary: bool = False


def should_destroy(state: SessionState, facts: Facts) -> bool:
    """``request.session`` was unset under ``unset: "destroy"``."""
    return facts.unset and facts.unset_destroys and state.stored


def should_save(state: SessionState, fingerprint: Fingerprint, facts: Facts) -> bool:
    if state.mode is Mode.DETACHED or state.sid is None:
        return False
    if facts.expiry_changed:
        return True  # so the store and the browser never disagree on expiry
    if state.own_changed and not state.is_new:
        return True  # a stored session's clock (re)started: the record must say so
    if should_record_visit(state, facts):
        return True
    if not facts.save_uninitialized and not state.was_saved and state.is_new:
        return state.is_modified(fingerprint)
    return not state.is_saved(fingerprint)


def should_record_visit(state: SessionState, facts: Facts) -> bool:
    """``track``: a stored session's last visit is written again once the recorded one
    is an interval old (a record without one, written by an Express app, at once). Only
    a session the browser's cookie named: a new one is stored, or not, by express's
    rules alone, so ``saveUninitialized: false`` still stores nothing for a visitor."""
    if facts.visit_interval_ms is None or state.mode is not Mode.LIVE:
        return False
    if not state.stored or state.is_new:
        return False
    return visit_due(own_moment(state.own, "lastSeenAt"), facts.now_ms, facts.visit_interval_ms)


def visit_due(last_seen_at: int | None, now_ms: int, interval_ms: int) -> bool:
    """The recorded visit is missing, or at least ``interval_ms`` old."""
    return last_seen_at is None or now_ms - last_seen_at >= interval_ms


def touch_wanted(state: SessionState, saving: bool) -> bool:
    """express would touch the session's store expiry now (``touchAfter`` aside)."""
    return (
        not saving
        and state.mode is not Mode.DETACHED
        and not state.is_new
        and state.stored
        and not state.touched_on_read
    )


def touch_due_now(facts: Facts, state: SessionState) -> bool:
    """``touchAfter`` lets the touch through (always, without it)."""
    return touch_due(
        facts.touch_after_ms,
        now=facts.now_ms,
        fresh=facts.fresh_expires_at,
        held=state.store_expires_at,
        touched_at=state.store_touched_at,
    )


def should_set_cookie(state: SessionState, fingerprint: Fingerprint, facts: Facts) -> bool:
    if state.mode is Mode.DETACHED or state.sid is None:
        return False
    if state.is_new:
        return facts.save_uninitialized or state.is_modified(fingerprint)
    if facts.expiry_changed:
        return True
    return facts.rolling or (facts.has_expiry and state.is_modified(fingerprint))


def rolling_only(state: SessionState, fingerprint: Fingerprint, facts: Facts) -> bool:
    """The cookie would be sent only because of ``rolling``."""
    return (
        facts.rolling
        and not state.is_new
        and not facts.expiry_changed
        and not (facts.has_expiry and state.is_modified(fingerprint))
    )


def can_send_cookie(facts: Facts) -> bool:
    """A ``secure`` cookie only goes out over HTTPS."""
    return not facts.cookie_secure or facts.secure_request


def decide(state: SessionState, fingerprint: Fingerprint | None, facts: Facts) -> Decision:
    """The decision for a response. ``fingerprint`` is the data's, taken after express's
    touch-before-deciding; None when the session was unset or destroyed."""
    if facts.unset:
        destroy = should_destroy(state, facts)
        clear = destroy and facts.had_cookie
        return Decision(destroy=destroy, clear_cookie=clear, vary=facts.accessed or clear)
    if state.mode is Mode.DESTROYED:
        return Decision(clear_cookie=facts.had_cookie, vary=facts.accessed or facts.had_cookie)
    if fingerprint is None or facts.status_code >= 500:
        return Decision(vary=facts.accessed)  # Django: no save on a server error
    if facts.passive:
        clear = state.mode is Mode.ENDED and facts.had_cookie
        return Decision(clear_cookie=clear, vary=facts.accessed or clear)
    save = should_save(state, fingerprint, facts)
    set_cookie = should_set_cookie(state, fingerprint, facts)
    if not can_send_cookie(facts):
        set_cookie = False
        # A new session whose cookie cannot reach the browser would be an orphan.
        save = save and not state.is_new
    wanted = touch_wanted(state, save)
    touch = wanted and touch_due_now(facts, state)
    if set_cookie and rolling_only(state, fingerprint, facts) and facts.touch_after_ms > 0:
        # Under touchAfter a rolling cookie goes out with the store's refresh only, so
        # the browser never holds a later expiry than the store.
        set_cookie = save or touch or state.touched_on_read
    replaced = (set_cookie and save) or state.stored
    clear = state.mode is Mode.ENDED and facts.had_cookie and not replaced
    return Decision(
        save=save,
        touch=touch,
        touch_spared=wanted and not touch,
        set_cookie=set_cookie,
        clear_cookie=clear,
        vary=facts.accessed or set_cookie or clear,
    )


def settled_by_read(
    state: SessionState,
    fingerprint: Fingerprint,
    *,
    expiry_changed: bool,
    rolling: bool,
    tracks: bool,
    touch_after_ms: int,
) -> bool:
    """The commonest request of a returning visitor, answered without gathering the
    facts: a stored session the cookie named, left as it was loaded (``fingerprint`` is
    the very one it was loaded with, and saved with), whose read refreshed its expiry as
    express's touch would. ``decide`` then saves, touches and sends nothing, whatever the
    status; only ``Vary`` follows from access. Without ``rolling``, ``track`` or
    ``touchAfter``, whose rules need the other facts."""
    return (
        state.mode is Mode.LIVE
        and state.stored
        and state.touched_on_read
        and not state.is_new
        and state.sid == state.original_id == state.saved_id
        and fingerprint is state.original
        and state.saved is fingerprint
        and not state.own_changed
        and not expiry_changed
        and not (rolling or tracks or touch_after_ms)
    )


def store_refreshed_at(state: SessionState, decision: Decision, facts: Facts) -> int | None:
    """When the store last refreshed the session's expiry once ``decision`` is carried
    out: now, for a write or a touch (the read's, or the decision's); else what the
    read told (None: it cannot say)."""
    if decision.save or decision.touch or state.touched_on_read:
        return facts.now_ms
    return refreshed_at(
        now=facts.now_ms,
        fresh=facts.fresh_expires_at,
        held=state.store_expires_at,
        touched_at=state.store_touched_at,
    )
