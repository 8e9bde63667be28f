"""System checks: express's start-up warnings, and settings that would break sessions."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning

from . import policy
from .conf import STORE_BACKENDS, get_options, get_store
from .http import trusts_proxy
from .setup_checks import register  # quiet while EXPRESS_SESSION is invalid (E050)

logger = logging.getLogger("django_express_session")

OUR_MIDDLEWARE = "django_express_session.middleware.SessionMiddleware"
DJANGO_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
OUR_ENGINE = "django_express_session.session"

MIN_SECRET_LENGTH = 32
#: Secrets from express's documentation and tutorials.
WELL_KNOWN_SECRETS = frozenset({
    "keyboard cat", "secret", "my secret", "mysecret", "your secret key", "changeme",
    "change me", "s3cr3t", "supersecret", "super secret", "session secret", "shhhh",
    "shhhhhhared-secret", "secret key", "secretkey",
})  # fmt: skip


def _weak(secret: str | bytes) -> bool:
    text = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
    return len(secret) < MIN_SECRET_LENGTH or text.strip().lower() in WELL_KNOWN_SECRETS


@register(Tags.compatibility)
def check_express_defaults(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """express-session warns when ``resave``/``saveUninitialized`` rely on their defaults."""
    options = get_options()
    warnings = []
    if not options.resave_given:
        warnings.append(
            Warning(
                "EXPRESS_SESSION['resave'] is not set; it defaults to True, as in express.",
                hint="Set it explicitly; False is right for most stores (they implement touch).",
                id="django_express_session.W001",
            )
        )
    if not options.save_uninitialized_given:
        warnings.append(
            Warning(
                "EXPRESS_SESSION['saveUninitialized'] is not set; it defaults to True, as in express.",
                hint="Set it explicitly; False avoids storing a session for every cookie-less visitor.",
                id="django_express_session.W002",
            )
        )
    return warnings


@register(Tags.compatibility)
def check_wiring(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if DJANGO_MIDDLEWARE in middleware:
        where = "beside" if OUR_MIDDLEWARE in middleware else "instead of"
        errors.append(
            Error(
                f"{DJANGO_MIDDLEWARE} is installed {where} {OUR_MIDDLEWARE}.",
                hint="Replace it with ours (at the same place): two session middlewares "
                "would fight over request.session, and Django's cannot read express sessions.",
                id="django_express_session.E001",
            )
        )
    if OUR_MIDDLEWARE not in middleware:
        errors.append(
            Error(
                f"{OUR_MIDDLEWARE} is not in MIDDLEWARE.",
                hint="Put it where django.contrib.sessions' middleware would go.",
                id="django_express_session.E002",
            )
        )
    if getattr(settings, "SESSION_ENGINE", None) != OUR_ENGINE:
        errors.append(
            Error(
                f"SESSION_ENGINE is {getattr(settings, 'SESSION_ENGINE', None)!r}, not {OUR_ENGINE!r}.",
                hint="login(), logout() and the test client use SESSION_ENGINE; set it to ours.",
                id="django_express_session.E003",
            )
        )
    return errors


@register(Tags.compatibility, Tags.security)
def check_cache_store(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """What the cache under the ``cache`` store can hold safely, and share with Node."""
    options = get_options()
    if options.store.backend != STORE_BACKENDS["cache"]:
        return []
    from .stores._hashring import node_names_alike
    from .stores.cache import RENDEZVOUS, cache_kind, memcached_servers, refusal

    alias = options.store.options.get("alias", "default")
    if alias not in settings.CACHES:
        return []  # the store itself reports it, naming the aliases
    kind = cache_kind(alias)
    if kind == "refused":
        return [
            Error(
                refusal(alias),
                hint="Only memcached caches (shared with Node's connect-memcached) and "
                "LocMemCache (one process) can hold sessions.",
                id="django_express_session.E010",
            )
        ]
    if kind == "locmem":
        return [
            Warning(
                f"CACHES[{alias!r}] is a LocMemCache: its sessions live in one process.",
                hint="No Node app, other worker or restart sees them. Use a memcached cache "
                "(shared with connect-memcached) or another store to share sessions.",
                id="django_express_session.W016",
            )
        ]
    servers = memcached_servers(settings.CACHES[alias].get("LOCATION"))
    if len(servers) < 2:
        return []
    if options.store.options.get("placement", RENDEZVOUS) == RENDEZVOUS:
        return [
            Warning(
                f"CACHES[{alias!r}] has {len(servers)} memcached servers, placed by "
                "rendezvous hashing.",
                hint="node-memcached places keys on its own hash ring: a Node app on the "
                "same servers finds only some sessions. To share the pool with Node, set "
                'the store option "placement": "node-memcached" (it moves most '
                "sessions to another server once: switch before sharing, or at a quiet "
                "time).",
                id="django_express_session.W017",
            )
        ]
    unplaceable = [server for server in servers if not node_names_alike(server)]
    if unplaceable:
        return [
            Warning(
                f"CACHES[{alias!r}] has {len(servers)} memcached servers, and node-memcached "
                f"cannot name {unplaceable!r} as it is written here.",
                hint="Sessions are placed on the servers as node-memcached places them, by "
                'a hash of each server\'s "host:port": give every server so (the same '
                "spelling, in the Node app too), or a Node app on the same servers finds "
                "only some sessions.",
                id="django_express_session.W017",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    options = get_options()
    cookie = options.cookie.given
    warnings = []
    # A cookie function decides per request: nothing to check here.
    if options.cookie_function is None and cookie.get("secure") not in (True, "auto"):
        warnings.append(
            Warning(
                "EXPRESS_SESSION['cookie']['secure'] is not True or 'auto'.",
                hint="The session cookie would be sent over plain HTTP, where it can be stolen.",
                id="django_express_session.W010",
            )
        )
    if cookie.get("httpOnly") is False:
        warnings.append(
            Warning(
                "EXPRESS_SESSION['cookie']['httpOnly'] is False.",
                hint="Scripts on the page could read the session cookie.",
                id="django_express_session.W011",
            )
        )
    if any(_weak(secret) for secret in options.secrets):
        warnings.append(
            Warning(
                "EXPRESS_SESSION['secret'] is short or well known.",
                hint=f"Anyone who knows or guesses the secret can forge session cookies. Use "
                f"{MIN_SECRET_LENGTH} or more random characters (keep the old secret second "
                f"in the list until its cookies expire), or leave 'secret' unset to derive "
                f"one from SECRET_KEY.",
                id="django_express_session.W013",
            )
        )
    if cookie.get("sameSite") is None:
        warnings.append(
            Warning(
                "EXPRESS_SESSION['cookie']['sameSite'] is not set.",
                hint="Browsers then choose (some send the cookie on cross-site requests). "
                'Set it; "lax" is what Django\'s own session cookie uses.',
                id="django_express_session.W014",
            )
        )
    if (
        cookie.get("secure") == "auto"
        and options.proxy is not True
        and not getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    ):
        warnings.append(
            Warning(
                "EXPRESS_SESSION['cookie']['secure'] is 'auto', but neither "
                "SECURE_PROXY_SSL_HEADER nor EXPRESS_SESSION['proxy'] is set.",
                hint="Behind a proxy that ends TLS every request looks like plain HTTP, so "
                "the cookie is never secure. Set SECURE_PROXY_SSL_HEADER (or 'proxy': True "
                "to trust X-Forwarded-Proto), or 'secure': True.",
                id="django_express_session.W015",
            )
        )
    # (With 'proxy': False the project said that no proxy stands in front.)
    if "ip" in options.track and options.proxy is None and not trusts_proxy(options.proxy):
        warnings.append(
            Warning(
                "EXPRESS_SESSION['track'] records 'ip', but neither SECURE_PROXY_SSL_HEADER "
                "nor EXPRESS_SESSION['proxy'] is set.",
                hint="Behind a reverse proxy every session would then show the proxy's "
                "address. Set 'proxy': True (or SECURE_PROXY_SSL_HEADER) to record the "
                "client's address from X-Forwarded-For, or 'proxy': False if no proxy "
                "stands in front.",
                id="django_express_session.W018",
            )
        )
    if options.store.backend == STORE_BACKENDS["memory"]:
        warnings.append(
            Warning(
                "The session store is the memory store (the default).",
                hint="It lives in one process: other workers, restarts and Node apps do not see "
                "its sessions. Choose a shared store in EXPRESS_SESSION['store'].",
                id="django_express_session.W012",
            )
        )
    return warnings


PRIMITIVES = ("read", "create", "replace", "destroy", "touch")


@register(Tags.compatibility)
def check_store_protocol(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """A custom store implements the five primitives, or is an express-style store whose
    writes are last-writer-wins (and says so here)."""
    from django.utils.module_loading import import_string

    from .stores.base import ExpressStyleStore, Store

    backend = get_options().store.backend
    try:
        store_class = import_string(backend)
    except ImportError:
        return []  # reported as ImproperlyConfigured when the store is built
    if not (isinstance(store_class, type) and issubclass(store_class, Store)):
        return []
    if issubclass(store_class, ExpressStyleStore):
        return [
            Warning(
                f"The session store {backend} is express-style (get/set): concurrent "
                "requests of one session can lose each other's changes (last writer wins).",
                hint="Implement read/create/replace (a compare-and-set) on a Store subclass "
                "to make saves merge, as the built-in stores do.",
                id="django_express_session.W003",
            )
        ]
    missing = [name for name in PRIMITIVES if getattr(store_class, name) is getattr(Store, name)]
    if missing:
        return [
            Error(
                f"The session store {backend} does not implement {', '.join(missing)}.",
                hint="A Store implements read, create, replace, destroy and touch; a store "
                "with only get/set/destroy subclasses stores.base.ExpressStyleStore.",
                id="django_express_session.E004",
            )
        ]
    return []


@register(Tags.compatibility)
def check_express_policy(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The policy the Express app sharing the store published (the Node package does at
    start-up), compared with these settings: each difference that breaks sharing. On the
    database store reading it is a query: ``check_express_policy_in_database`` does it."""
    return _policy_warnings(in_database=False)


@register(Tags.database)
def check_express_policy_in_database(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[Warning]:
    """The same on the database store, for ``check --database <its alias>`` only, as
    Django runs its own checks that query."""
    return _policy_warnings(in_database=True, databases=databases or ())


def _policy_warnings(*, in_database: bool, databases: Any = ()) -> list[Warning]:
    """A store that cannot be built or read is reported elsewhere (its option checks,
    start-up, its requests' 503), never here."""
    from .stores.database import DatabaseStore

    try:
        store = get_store()
        if isinstance(store, DatabaseStore) != in_database:
            return []
        if in_database and store.alias not in databases:
            return []
        found = policy.mismatches(get_options(), store)
    except policy.UnreadablePolicy as error:
        return [
            Warning(
                f"The Express app's published session policy cannot be read: {error}.",
                hint="Restart the Express app with the django-express-session npm package "
                "of this release: it publishes its policy again when it starts.",
                id="django_express_session.W039",
            )
        ]
    except Exception as error:  # see above: not this check's to report
        logger.debug("The Express app's session policy was not read: %r", error)
        return []
    return [
        Warning(
            mismatch.message, hint=mismatch.hint, id=f"django_express_session.{mismatch.check_id}"
        )
        for mismatch in found
    ]


@register(Tags.compatibility)
def check_session_limit(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``maxSessionsPerUser`` needs a store that lists a user's sessions (``limits``)."""
    options = get_options()
    if options.max_sessions_per_user is None or options.store.backend != STORE_BACKENDS["cache"]:
        return []
    from .stores.cache import cache_kind

    alias = options.store.options.get("alias", "default")
    if alias not in settings.CACHES or cache_kind(alias) != "memcached":
        return []
    return [
        Error(
            "EXPRESS_SESSION['maxSessionsPerUser'] is set, but the memcached store cannot "
            "list a user's sessions: every login would fail.",
            hint="Use a store that lists them (database, redis, mongodb, file, memory), or "
            "remove maxSessionsPerUser.",
            id="django_express_session.E040",
        )
    ]
