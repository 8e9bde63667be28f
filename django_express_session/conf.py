"""``settings.EXPRESS_SESSION``, read and validated once.

Option names, defaults and units are express-session's. A bad value raises
``ImproperlyConfigured`` naming the key and what is allowed. The result is cached and
refreshed when a test changes the settings (``setting_changed``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from . import identity, transport
from .cookie import COOKIE_NAME, attribute_problem
from .core.lifetime import Lifetime, seconds_to_ms
from .core.limit import END_OLDEST
from .django_settings import with_django_settings
from .ids import generate_sid
from .migration import MigrateFrom, parse_migrate_from, with_migration
from .signing import Secret, masked
from .tracking import TRACKABLE
from .validation import (
    ACCOUNT_EVENTS,
    SETTING,
    did_you_mean,
    end_sessions_on,
    imported,
    invalid,
    session_limit,
    unknown_keys,
)

if TYPE_CHECKING:
    from .stores.base import Store

#: express 1.19's cookie function: the request (None outside one) -> the cookie options.
CookieFunction = Callable[[HttpRequest | None], Mapping[str, Any]]

STORE_BACKENDS = {
    "memory": "django_express_session.stores.memory.MemoryStore",
    "file": "django_express_session.stores.file.FileStore",
    "redis": "django_express_session.stores.redis.RedisStore",
    "mongodb": "django_express_session.stores.mongodb.MongoStore",
    "cache": "django_express_session.stores.cache.CacheStore",
    "database": "django_express_session.stores.database.DatabaseStore",
}

_TOP_LEVEL = {
    "secret", "name", "key", "resave", "saveUninitialized", "rolling", "unset", "proxy",
    "genid", "cookie", "store", "storeUnavailable", "passport", "migrateFrom",
    "absoluteMaxAge", "absoluteMaxAgeFrom", "touchAfter", "track", "socketRecheck", "header",
    "maxSessionsPerUser", "onSessionLimit", "endSessionsOn",
}  # fmt: skip
_COOKIE_KEYS = {
    "path", "httpOnly", "secure", "maxAge", "domain", "sameSite", "partitioned", "priority",
}  # fmt: skip
_SAME_SITE = {"lax", "strict", "none"}
_PRIORITY = {"low", "medium", "high"}


@dataclass(frozen=True)
class CookieOptions:
    """The ``cookie`` option: only the keys the project gave, in express's naming, so a
    new session's stored cookie has exactly the keys express would write."""

    given: Mapping[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.given.get("path") or "/"


@dataclass(frozen=True)
class StoreConfig:
    backend: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Options:
    # Never in a repr: Django's debug page shows the locals that hold an Options.
    secrets: tuple[Secret, ...] = field(repr=False)
    name: str = "connect.sid"
    resave: bool = True
    save_uninitialized: bool = True
    rolling: bool = False
    unset_destroys: bool = False
    proxy: bool | None = None
    genid: Callable[[Any], Any] = generate_sid
    cookie: CookieOptions = field(default_factory=CookieOptions)
    store: StoreConfig = field(default_factory=lambda: StoreConfig(STORE_BACKENDS["memory"], {}))
    # True: answer 503 when the store is down; False: go on without a session (express).
    fail_when_store_unavailable: bool = True
    resave_given: bool = False
    save_uninitialized_given: bool = False
    # passport.user <-> the Django login (None: the bridge is off).
    passport: identity.PassportOptions | None = None
    #: ``migrateFrom``: the old engine whose sessions move over (``migration``).
    migrate_from: MigrateFrom | None = None
    #: ``absoluteMaxAge``, ``absoluteMaxAgeFrom`` and ``touchAfter`` (the top-level one
    #: or connect-mongo's store option), in ms (``core.lifetime``).
    lifetime: Lifetime = field(default_factory=Lifetime)
    #: ``track``: the client details recorded in each session's record (``tracking``;
    #: empty: none, and no times either).
    track: tuple[str, ...] = ()
    #: ``socketRecheck``: seconds between checks that an open WebSocket's session still
    #: stands (``channels``).
    socket_recheck: float = transport.DEFAULT_SOCKET_RECHECK
    #: ``header``: the request header that may carry the signed id where no cookie can
    #: (None: off; ``transport``).
    header: str | None = None
    #: ``maxSessionsPerUser`` (None: no limit; a number, or ``f(user) -> int | None``)
    #: and ``onSessionLimit`` (``limits``).
    max_sessions_per_user: int | Callable[[Any], int | None] | None = None
    on_session_limit: str = END_OLDEST
    #: ``endSessionsOn``: the account events that end every session of the user
    #: (``account_events``).
    end_sessions_on: frozenset[str] = frozenset(ACCOUNT_EVENTS)
    #: express 1.19's cookie function (``cookie`` given as a callable or a dotted path):
    #: ``cookie`` is then empty and ``cookie_for`` asks the function.
    cookie_function: CookieFunction | None = None

    def cookie_for(self, request: HttpRequest | None) -> CookieOptions:
        """The ``cookie`` options for ``request``: the static ones, or what the cookie
        function gives now (express calls it at the path check and for each new
        cookie)."""
        if self.cookie_function is None:
            return self.cookie
        return cookie_of(self.cookie_function, request)


def _boolean(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"{key!r}", f"must be True or False, not {value!r}")
    return value


#: The salt of the default secrets: each is derived from SECRET_KEY or one of its
#: fallbacks, so a cookie signature never reveals anything about the key itself, and a
#: key moved to SECRET_KEY_FALLBACKS still verifies the cookies it signed.
DEFAULT_SECRET_SALT = "django_express_session.cookie"


@sensitive_variables()
def derive_secret(key: str | bytes) -> str:
    from django.utils.crypto import salted_hmac

    return salted_hmac(DEFAULT_SECRET_SALT, "secret", secret=key, algorithm="sha256").hexdigest()


@sensitive_variables()
def _secrets(config: Mapping[str, Any]) -> tuple[Secret, ...]:
    if "secret" not in config or config["secret"] is None:
        fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", [])
        return tuple(masked(derive_secret(key)) for key in (settings.SECRET_KEY, *fallbacks) if key)
    value = config["secret"]
    secrets = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not secrets:
        raise invalid("'secret'", "must contain one or more strings")
    for secret in secrets:
        if not isinstance(secret, (str, bytes)) or not secret:
            raise invalid("'secret'", f"must be non-empty strings or bytes, not {secret!r}")
    return tuple(masked(secret) for secret in secrets)


def _cookie(config: Mapping[str, Any]) -> tuple[CookieOptions, CookieFunction | None]:
    """The static ``cookie`` options, or express 1.19's cookie function (a callable or a
    dotted path to one) with empty static options."""
    given = config.get("cookie") or {}
    if isinstance(given, str) or callable(given):
        function = imported(given, partial(invalid, "'cookie'"))
        if not callable(function):
            raise invalid(
                "'cookie'", f"must be a dict or a callable(request) -> dict, not {function!r}"
            )
        return CookieOptions(), function
    return checked_cookie(given, _static_cookie_error), None


#: An error about the ``cookie`` options: (the cookie option, or None for the whole
#: value; the problem) -> the error.
CookieError = Callable[[str | None, str], ImproperlyConfigured]


def _static_cookie_error(key: str | None, problem: str) -> ImproperlyConfigured:
    return invalid("'cookie'" if key is None else f"'cookie'][{key!r}", problem)


def checked_cookie(given: Any, bad: CookieError) -> CookieOptions:
    """``given`` checked as the ``cookie`` options; ``bad`` builds the error."""
    if not isinstance(given, Mapping):
        raise bad(None, f"must be a dict of cookie options, not {given!r}")
    for key in given:
        if key not in _COOKIE_KEYS:
            raise bad(
                key,
                f"is not a cookie option{did_you_mean(key, _COOKIE_KEYS)}; "
                f"use one of {sorted(_COOKIE_KEYS)}",
            )
    given = dict(given)
    max_age = given.get("maxAge")
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, (int, float))):
        raise bad("maxAge", f"must be milliseconds (a number) or None, not {max_age!r}")
    secure = given.get("secure")
    if secure is not None and secure != "auto" and not isinstance(secure, bool):
        raise bad("secure", f'must be True, False or "auto", not {secure!r}')
    same_site = given.get("sameSite")
    if (
        same_site is not None
        and not isinstance(same_site, bool)
        and (not isinstance(same_site, str) or same_site.lower() not in _SAME_SITE | {"auto"})
    ):
        raise bad(
            "sameSite",
            f'must be "lax", "strict", "none", "auto", True, False or None, not {same_site!r}',
        )
    priority = given.get("priority")
    if priority is not None and (
        not isinstance(priority, str) or priority.lower() not in _PRIORITY
    ):
        raise bad("priority", f'must be "low", "medium", "high" or None, not {priority!r}')
    for key in ("httpOnly", "partitioned"):
        if key in given and not isinstance(given[key], bool):
            raise bad(key, f"must be True or False, not {given[key]!r}")
    for key in ("path", "domain"):
        value = given.get(key)
        if value is not None and (not isinstance(value, str) or attribute_problem(key, value)):
            problem = attribute_problem(key, value) or "not a string"
            raise bad(key, f"must be a string without ';' ({problem}), not {value!r}")
    path = given.get("path")
    if path is not None and not path.startswith("/"):
        raise bad("path", f"must start with '/', not {path!r}")
    # None means "not set" (undefined in Node), so it is not stored.
    return CookieOptions({key: value for key, value in given.items() if value is not None})


def cookie_of(function: CookieFunction, request: HttpRequest | None) -> CookieOptions:
    """What express 1.19's cookie function gives for ``request``, checked as the static
    options are: a bad value is an ``ImproperlyConfigured`` naming the function, raised
    before anything is stored or sent."""
    name = getattr(function, "__qualname__", repr(function))

    def bad(key: str | None, problem: str) -> ImproperlyConfigured:
        where = "" if key is None else f"[{key!r}] "
        return invalid("'cookie'", f"(the function {name}) gave bad options: {where}{problem}")

    return checked_cookie(function(request), bad)


def _genid(config: Mapping[str, Any]) -> Callable[[Any], Any]:
    value = config.get("genid")
    if value is None:
        return generate_sid
    value = imported(value, partial(invalid, "'genid'"))
    if not callable(value):
        raise invalid(
            "'genid'", f"must be a callable(request) -> str or a dotted path to one, not {value!r}"
        )
    return value


def _store(config: Mapping[str, Any]) -> StoreConfig:
    store = config.get("store")
    if store is None:
        return StoreConfig(STORE_BACKENDS["memory"], {})
    if not isinstance(store, Mapping):
        raise invalid(
            "'store'",
            f'must be a dict like {{"backend": "redis", "options": {{...}}}}, not {store!r}',
        )
    unknown = set(store) - {"backend", "options"}
    if unknown:
        raise unknown_keys("'store'", unknown, ("backend", "options"))
    backend = store.get("backend")
    if not isinstance(backend, str) or not backend:
        raise invalid(
            "'store']['backend'", f"must be one of {sorted(STORE_BACKENDS)} or a dotted path"
        )
    if backend not in STORE_BACKENDS and "." not in backend:
        raise invalid(
            "'store']['backend'",
            f"{backend!r} is not a store{did_you_mean(backend, STORE_BACKENDS)}; use one of "
            f"{sorted(STORE_BACKENDS)} or a dotted path to a Store subclass",
        )
    options = store.get("options") or {}
    if not isinstance(options, Mapping):
        raise invalid("'store']['options'", f"must be a dict, not {options!r}")
    return StoreConfig(STORE_BACKENDS.get(backend, backend), dict(options))


def store_config(store: Any) -> StoreConfig:
    """A store setting shaped like ``EXPRESS_SESSION["store"]``, validated (the
    ``--from-store`` of ``migratesessions``)."""
    return _store({"store": store})


def _lifetime(config: Mapping[str, Any], store: StoreConfig, cookie: CookieOptions) -> Lifetime:
    """``absoluteMaxAge`` (ms), ``absoluteMaxAgeFrom`` and ``touchAfter`` (seconds), and
    the cookie's ``maxAge`` (checked by ``_cookie``).
    ``touchAfter`` may be given at the top level, as a store option (connect-mongo's),
    or both when they agree; either way the store and the session use the one value."""
    absolute = config.get("absoluteMaxAge")
    if absolute is not None and (
        isinstance(absolute, bool) or not isinstance(absolute, (int, float)) or absolute <= 0
    ):
        raise invalid(
            "'absoluteMaxAge'", f"must be milliseconds (a number above 0) or None, not {absolute!r}"
        )
    start = config.get("absoluteMaxAgeFrom", "start")
    if start not in ("start", "login"):
        raise invalid("'absoluteMaxAgeFrom'", f'must be "start" or "login", not {start!r}')
    touch_after = config.get("touchAfter")
    if touch_after is not None and (
        isinstance(touch_after, bool)
        or not isinstance(touch_after, (int, float))
        or touch_after < 0
    ):
        raise invalid(
            "'touchAfter'", f"must be seconds (a number, 0 or more) or None, not {touch_after!r}"
        )
    given = store.options.get("touchAfter")
    if touch_after is None:
        # The store checks its own option when it is built.
        valid = isinstance(given, (int, float)) and not isinstance(given, bool) and given > 0
        touch_after = given if valid else 0
    elif given is not None and given != touch_after:
        raise invalid(
            "'touchAfter'",
            f"is {touch_after!r} but EXPRESS_SESSION['store']['options']"
            f"['touchAfter'] is {given!r}: give one, or the same value in both",
        )
    return Lifetime(
        touch_after_ms=seconds_to_ms(touch_after),
        absolute_max_age_ms=None if absolute is None else int(absolute),
        absolute_from=start,
        max_age_ms=_whole_ms(cookie.given.get("maxAge")),
    )


def _whole_ms(value: Any) -> int | None:
    """A ``maxAge`` as the whole milliseconds a cookie keeps of it (None: not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return math.trunc(value)


def _track(config: Mapping[str, Any]) -> tuple[str, ...]:
    value = config.get("track")
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise invalid(
            "'track'", f"must be a list of client details {list(TRACKABLE)} (or []), not {value!r}"
        )
    for item in value:
        if item not in TRACKABLE:
            raise invalid("'track'", f"lists {item!r}, which is not one of {list(TRACKABLE)}")
    return tuple(dict.fromkeys(value))


@sensitive_variables("config", "secrets")
def parse(config: Any) -> Options:
    """Validate an ``EXPRESS_SESSION`` dict into ``Options``."""
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ImproperlyConfigured(f"{SETTING} must be a dict of express-session options")
    for key in config:
        if key not in _TOP_LEVEL:
            raise invalid(
                repr(key),
                f"is not an option{did_you_mean(key, _TOP_LEVEL)}; use one of {sorted(_TOP_LEVEL)}",
            )
    config = with_django_settings(config)  # Django's SESSION_* settings it leaves out
    name = config.get("name") or config.get("key") or "connect.sid"
    if not isinstance(name, str) or not COOKIE_NAME.fullmatch(name):
        raise invalid("'name'", f"must be a cookie name (no spaces, ';', ',', '='), not {name!r}")
    unset = config.get("unset") or "keep"
    if unset not in ("keep", "destroy"):
        raise invalid("'unset'", f'must be "keep" or "destroy", not {unset!r}')
    proxy = config.get("proxy")
    if proxy not in (None, True, False):
        raise invalid("'proxy'", f"must be None, True or False, not {proxy!r}")
    unavailable = config.get("storeUnavailable", "error")
    if unavailable not in ("error", "continue"):
        raise invalid("'storeUnavailable'", f'must be "error" or "continue", not {unavailable!r}')
    secrets = _secrets(config)
    if not secrets:
        raise invalid("'secret'", "is empty and so is SECRET_KEY")
    store = _store(config)
    max_sessions, on_limit = session_limit(config)
    cookie, cookie_function = _cookie(config)
    return Options(
        secrets=secrets,
        name=name,
        resave=_boolean(config, "resave", True),
        save_uninitialized=_boolean(config, "saveUninitialized", True),
        rolling=_boolean(config, "rolling", False),
        unset_destroys=unset == "destroy",
        proxy=proxy,
        genid=_genid(config),
        cookie=cookie,
        cookie_function=cookie_function,
        store=store,
        fail_when_store_unavailable=unavailable == "error",
        resave_given="resave" in config,
        save_uninitialized_given="saveUninitialized" in config,
        passport=identity.parse(config.get("passport")),
        migrate_from=parse_migrate_from(config),
        lifetime=_lifetime(config, store, cookie),
        track=_track(config),
        socket_recheck=transport.parse_socket_recheck(config.get("socketRecheck")),
        header=transport.parse_header(config.get("header")),
        max_sessions_per_user=max_sessions,
        on_session_limit=on_limit,
        end_sessions_on=end_sessions_on(config),
    )


@functools.cache
@sensitive_variables()
def get_options() -> Options:
    return parse(getattr(settings, SETTING, None))


def build_store(config: StoreConfig, lifetime: Lifetime | None = None) -> Store:
    from .stores.base import Store

    store_class = imported(config.backend, partial(invalid, "'store']['backend'"))
    if not (isinstance(store_class, type) and issubclass(store_class, Store)):
        raise invalid("'store']['backend'", f"{config.backend} is not a Store subclass")
    return store_class.from_options(config.options, lifetime=lifetime)


@functools.cache
def get_store() -> Store:
    options = get_options()
    return with_migration(build_store(options.store, options.lifetime), options.migrate_from)


def reset() -> None:
    """Forget the cached options and store (after a settings change)."""
    if get_store.cache_info().currsize:
        get_store().close()
    get_options.cache_clear()
    get_store.cache_clear()
