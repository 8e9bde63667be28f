"""One login across Django and an Express app with passport: the ``passport`` option.

passport keeps the logged-in user under ``session.passport.user`` (what its
``serializeUser`` returned); Django keeps ``_auth_user_id``, ``_auth_user_backend`` and
``_auth_user_hash``. With ``EXPRESS_SESSION["passport"]`` set, ``passport.user`` is the
one source of truth for both:

- **Express to Django** (``bridge``/``abridge``, run by the session middleware right
  after it opens the session, before ``AuthenticationMiddleware`` reads it): a
  ``passport.user`` that this session's Django login was not made from becomes a Django
  login of the user it names, written with the keys ``login()`` writes. No
  ``passport.user`` means no Django login: the Django keys are removed.
- **Django to Express** (a ``user_logged_in`` receiver): ``login()`` writes
  ``passport.user``. ``logout()`` flushes the session, which removes it.

The bridge keeps one key of its own in the session, ``_auth_user_passport``: the
``passport.user`` value the session's Django side was last settled from (a login, or
"names no active user"), so a request whose ``passport.user`` has not changed costs no
query, and a value naming nobody is logged once per session.

The id is not rotated when an Express login is bridged: passport (0.6 and later)
regenerated the session when the user logged in on Express, which is the defence
against fixation, and rotating it again here would destroy the record under the Express
app's concurrent requests, logging the user out there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.exceptions import (
    FieldDoesNotExist,
    ImproperlyConfigured,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
    ValidationError,
)

from . import signals
from .owner import PASSPORT_KEY, PASSPORT_USER_KEY, names, passport_user
from .record import sid_hint
from .validation import imported, invalid, unknown_keys

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger("django_express_session")

#: The ``passport.user`` value this session's Django side was settled from.
BRIDGED_KEY = "_auth_user_passport"
_DJANGO_KEYS = (SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY)
_NOTHING = object()

EXPRESS_TO_DJANGO = "express_to_django"
DJANGO_TO_EXPRESS = "django_to_express"


# -- the option -------------------------------------------------------------------------


class FieldSerializer:
    """passport's ``serializeUser`` stores one field of the user (``username``, ``pk``,
    ``email``, ...); ``from_passport`` finds the one user with that value."""

    def __init__(self, field: str) -> None:
        self.field = field

    def to_passport(self, user: Any) -> Any:
        return getattr(user, self.field)

    def from_passport(self, value: Any) -> Any:
        if value is None or isinstance(value, (dict, list, bool)):
            return None
        manager = get_user_model()._default_manager
        try:
            return manager.get(**{self.field: value})
        except (
            ObjectDoesNotExist,
            MultipleObjectsReturned,
            ValidationError,
            ValueError,
            TypeError,
        ):
            return None

    def check(self) -> None:
        """The user model has the field, and no two users can share its value (once
        the models are loaded): with a shared value, one user's Express sessions would
        log in as, and be listed and ended for, the other."""
        if self.field == "pk":
            return
        model = get_user_model()
        try:
            field = model._meta.get_field(self.field)
        except FieldDoesNotExist:
            raise invalid(
                "'passport']['field'",
                f"names no field of the user model {model._meta.label}: {self.field!r}",
            ) from None
        if not (getattr(field, "primary_key", False) or getattr(field, "unique", False)):
            raise invalid(
                "'passport']['field'",
                f"names {model._meta.label}.{self.field}, which is not unique: two users "
                f"could share a value, and one would be logged in as the other and see and "
                f"end the other's sessions. Use a unique field (such as 'pk' or "
                f"'{model.USERNAME_FIELD}') or a 'serializer'",
            )


@dataclass(frozen=True)
class PassportOptions:
    #: An object with ``to_passport(user)`` and ``from_passport(value) -> user | None``.
    serializer: Any
    #: ``_auth_user_backend`` of a bridged login; None: the first of
    #: ``AUTHENTICATION_BACKENDS``, read when used.
    backend: str | None = None

    @property
    def backend_path(self) -> str:
        return self.backend or settings.AUTHENTICATION_BACKENDS[0]

    def names(self, user: Any, value: Any) -> bool:
        """Whether ``passport.user == value`` is ``user``'s own value (``owner.names``:
        the rule the bridge, the listings and the indexes share)."""
        return names(self.serializer.to_passport(user), value)


_PASSPORT_KEYS = {"field", "serializer", "backend"}


def parse(value: Any) -> PassportOptions | None:
    """``EXPRESS_SESSION["passport"]``: ``{"field": "username"}`` or
    ``{"serializer": "dotted.path"}``, and optionally ``"backend"``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise invalid("'passport'", f'must be a dict like {{"field": "username"}}, not {value!r}')
    unknown = set(value) - _PASSPORT_KEYS
    if unknown:
        raise unknown_keys("'passport'", unknown, _PASSPORT_KEYS)
    if ("field" in value) == ("serializer" in value):
        raise invalid("'passport'", 'needs exactly one of "field" and "serializer"')
    if "field" in value:
        field = value["field"]
        if not isinstance(field, str) or not field:
            raise invalid("'passport']['field'", f"must be a user field name, not {field!r}")
        serializer: Any = FieldSerializer(field)
    else:
        serializer = imported(value["serializer"], partial(invalid, "'passport']['serializer'"))
        for method in ("to_passport", "from_passport"):
            if not callable(getattr(serializer, method, None)):
                raise invalid(
                    "'passport']['serializer'",
                    f"must have to_passport(user) and from_passport(value); "
                    f"{serializer!r} has no {method}()",
                )
    backend = value.get("backend")
    if backend is not None and not isinstance(backend, str):
        raise invalid("'passport']['backend'", f"must be a dotted path, not {backend!r}")
    options = PassportOptions(serializer, backend)
    if apps.models_ready:
        check(options)
    return options


def check(options: PassportOptions) -> None:
    """What can only be checked against the project: the field, the backend."""
    if isinstance(options.serializer, FieldSerializer):
        options.serializer.check()
    backends = list(settings.AUTHENTICATION_BACKENDS)
    if options.backend is not None and options.backend not in backends:
        raise invalid(
            "'passport']['backend'",
            f"is not in AUTHENTICATION_BACKENDS: {options.backend!r}",
        )
    if not backends:
        raise ImproperlyConfigured("EXPRESS_SESSION['passport'] needs AUTHENTICATION_BACKENDS")


# -- Express to Django ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the bridge has to do for a request: settle the Django side of the session
    on ``value`` (passport's user, or None when passport has none)."""

    value: Any


def pending(session: Any) -> Step | None:
    """Whether this session's Django login must be settled anew; reads the data without
    marking the session accessed."""
    data = session.data_without_access()
    if not data:
        return None
    value = passport_user(data)
    if value is None:
        has_django_login = any(key in data for key in (*_DJANGO_KEYS, BRIDGED_KEY))
        return Step(None) if has_django_login else None
    if data.get(BRIDGED_KEY, _NOTHING) == value:
        return None
    return Step(value)


def resolve(step: Step, options: PassportOptions) -> tuple[Any, str]:
    """The active user ``step.value`` names, or None and why not (the one query)."""
    if step.value is None:
        return None, ""
    user = options.serializer.from_passport(step.value)
    if user is None:
        return None, "no such user, or more than one"
    if not options.names(user, step.value):
        # The ORM coerces (" 1", "01" and 1.9 all find pk 1), the listings and indexes
        # that logout_everywhere ends sessions by do not: one rule for both.
        return None, f"not the user's own value {options.serializer.to_passport(user)!r}"
    if not getattr(user, "is_active", True):
        return None, "the user is inactive"
    return user, ""


def settle(
    request: HttpRequest, step: Step, user: Any, problem: str, options: PassportOptions
) -> None:
    """Write the outcome into the session: a Django login of ``user``, or none."""
    session = request.session
    data = session.data_without_access() or {}
    if user is None:
        for key in _DJANGO_KEYS:
            session.pop(key, None)
        if step.value is None:
            session.pop(BRIDGED_KEY, None)
            return
        session[BRIDGED_KEY] = step.value
        logger.warning(
            "session %s: passport.user %r names no active user (%s); the session is "
            "anonymous on Django",
            sid_hint(session.session_key),
            step.value,
            problem,
        )
        return
    user_id = user._meta.pk.value_to_string(user)
    if data.get(SESSION_KEY) != user_id:  # else Django's own login of this user stands
        # The hash of the password as it is now, so that a later change logs this
        # session out; or the one the Express app stamped when it checked the password.
        stamped = data.get(HASH_SESSION_KEY) if SESSION_KEY not in data else None
        session[SESSION_KEY] = user_id
        session[BACKEND_SESSION_KEY] = options.backend_path
        if hasattr(user, "get_session_auth_hash"):
            session[HASH_SESSION_KEY] = stamped or user.get_session_auth_hash()
    session[BRIDGED_KEY] = step.value
    _bridged(request, user, EXPRESS_TO_DJANGO)


def _bridged(request: HttpRequest, user: Any, direction: str) -> None:
    session = request.session
    signals.identity_bridged.send(
        sender=type(session), user=user, session=session, direction=direction, request=request
    )


def bridge(request: HttpRequest, options: PassportOptions | None) -> None:
    """Settle the Django login of ``request.session`` on ``passport.user`` (``options``:
    the ``passport`` option; None, the bridge is off)."""
    step = pending(request.session) if options is not None else None
    if step is not None:
        settle(request, step, *resolve(step, options), options)


async def abridge(request: HttpRequest, options: PassportOptions | None) -> None:
    step = pending(request.session) if options is not None else None
    if step is not None:
        settle(request, step, *await sync_to_async(resolve)(step, options), options)


# -- Django to Express ------------------------------------------------------------------


def name_for_passport(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in``: name the user for passport too (connected in
    ``AppConfig.ready``)."""
    session = getattr(request, "session", None)
    options = getattr(getattr(session, "options", None), "passport", None)
    if options is None:
        return
    value = options.serializer.to_passport(user)
    passport = session.get(PASSPORT_KEY)
    session[PASSPORT_KEY] = {
        **(passport if isinstance(passport, Mapping) else {}),
        PASSPORT_USER_KEY: value,
    }
    session[BRIDGED_KEY] = value
    _bridged(request, user, DJANGO_TO_EXPRESS)
