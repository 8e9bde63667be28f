"""Sessions end with the account: ``EXPRESS_SESSION["endSessionsOn"]`` (by default
``["password", "deactivate", "delete"]``).

- ``"deactivate"``: when a user is saved with ``is_active`` turned False, every session
  of the user ends, on both apps (``session_ended`` reason ``"deactivated"``).
- ``"delete"``: when a user is deleted, likewise (reason ``"deleted"``).
- ``"password"``: a password change logs out the user's other sessions, as Django does
  (each session's ``_auth_user_hash`` no longer verifies; the npm package's ``guard()``
  with ``djangoSecretKey`` applies the same rule on Express). Left out of the list, a
  password change ends no session: each live session of the user gets the new hash,
  so neither app logs it out.

Without the item, nothing happens for that event. The sessions are found as
``users.logout_everywhere`` finds them (thoroughly: those the Express app wrote
without an index entry too); a store that cannot list them (memcached) logs a warning,
and Django still refuses an inactive or deleted user at the next request, which an
Express app does only if its ``deserializeUser`` checks.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.contrib.auth import HASH_SESSION_KEY
from django.db.models.signals import post_delete, post_save, pre_save

from . import conf, users
from .core.drive import run
from .core.plans import update
from .exceptions import CannotListSessions, UpdateError
from .record import Changes

logger = logging.getLogger("django_express_session")

#: ``session_ended``'s reasons for the sessions these events end.
DEACTIVATED = "deactivated"
DELETED = "deleted"
#: Set on a user instance by ``pre_save``: what the database held before the save.
BEFORE_ATTRIBUTE = "_express_session_before"


def _events() -> frozenset[str]:
    return conf.get_options().end_sessions_on


def remember_before(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """``pre_save`` of the user model: keep ``is_active`` and the password hash as stored,
    to tell after the save whether either changed (one query, only for an existing user
    and only while an event needs it)."""
    events = _events()
    if raw or instance._state.adding or instance.pk is None:
        return
    watched = (("is_active", "deactivate"), ("password", "password"))
    given = kwargs.get("update_fields")  # save(update_fields=["last_login"]): none of these
    fields = [
        name
        for name, event in watched
        if _watched(event, events) and hasattr(instance, name) and (given is None or name in given)
    ]
    if not fields:
        return
    before = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    setattr(instance, BEFORE_ATTRIBUTE, before)


def _watched(event: str, events: frozenset[str]) -> bool:
    # "deactivate" acts when listed; "password" acts (re-stamping) when left out.
    return (event in events) if event == "deactivate" else (event not in events)


def after_save(
    sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any
) -> None:
    before = instance.__dict__.pop(BEFORE_ATTRIBUTE, None)
    if raw or created or not before:
        return
    if before.get("is_active") is True and getattr(instance, "is_active", True) is False:
        _end_all(instance, DEACTIVATED)
    if "password" in before and before["password"] != getattr(instance, "password", None):
        restamp(instance)


def after_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    if "delete" in _events():
        _end_all(instance, DELETED)


def _end_all(user: Any, reason: str) -> None:
    try:
        ended = users.end_sessions(user, reason=reason)
        users.end_old_sessions(user)
    except CannotListSessions as error:
        logger.warning("The sessions of user %r were not ended (%s): %s", user.pk, reason, error)
        return
    logger.info("%d sessions of user %r ended: %s", len(ended), user.pk, reason)


def restamp(user: Any) -> None:
    """``"password"`` left out of ``endSessionsOn``: each session of ``user`` gets the
    hash of the new password, so that neither app logs it out."""
    if not hasattr(user, "get_session_auth_hash"):
        return
    stamp = user.get_session_auth_hash()
    store = conf.get_store()
    try:
        records = store.sessions_of(users.owner_of(user), thorough=True)
    except (CannotListSessions, NotImplementedError) as error:
        logger.warning("The sessions of user %r keep the old password's hash: %s", user.pk, error)
        return
    for sid, record in records.items():
        if HASH_SESSION_KEY in record and record[HASH_SESSION_KEY] != stamp:
            with contextlib.suppress(UpdateError):  # ended meanwhile
                run(update(sid, Changes(record["cookie"], {HASH_SESSION_KEY: stamp}), None), store)


def connect(user_model: Any) -> None:
    """Connect the receivers to the user model (``AppConfig.ready``)."""
    uid = "django_express_session.account_events"
    pre_save.connect(remember_before, sender=user_model, dispatch_uid=uid)
    post_save.connect(after_save, sender=user_model, dispatch_uid=uid)
    post_delete.connect(after_delete, sender=user_model, dispatch_uid=uid)
