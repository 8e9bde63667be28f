"""Both apps agree: each side publishes its session policy, and reads the other's.

A *policy* is the part of each app's configuration that two apps sharing sessions must
agree on: the cookie name, the secrets (as fingerprints: an HMAC of a constant keyed by
each secret, never the secret), ``resave``, ``saveUninitialized``, ``rolling``,
``cookie.maxAge``, ``absoluteMaxAge`` (and ``absoluteMaxAgeFrom``), ``touchAfter`` and
the passport field. Each side writes its own as a small JSON document where the other
can read it without it counting as a session: the store's ``publish_policy`` and
``read_policy`` put it outside the sessions' prefix, table, collection or directory.

When each side publishes, and who reports:

- **Django publishes on the first request each process serves** (``request_started``,
  once per store, in a thread of its own so that no request waits; never for Django's
  test client): the process that serves is the one whose settings count. Not in
  ``AppConfig.ready`` (that runs for every management command and the test runner, and
  would make the store a start-up dependency of ``migrate``), and not in ``check``
  (production servers do not run it, and whoever ran it last would speak for the
  serving processes). Then it compares the Express app's policy and logs each mismatch.
- **``manage.py check``** reads the Express app's policy and reports each mismatch as a
  warning (``W030`` to ``W039``), comparing it with the settings it runs with.
- **The Node package** publishes when its store starts, and logs each mismatch with
  Django's published policy.

Whichever app starts second sees the other's policy, so a mismatch is reported at least
once. Publishing is best effort: a store that cannot take the document is logged, never
a failed request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .identity import FieldSerializer
from .record import format_js_date

if TYPE_CHECKING:
    from .conf import Options
    from .signing import Secret
    from .stores.base import Store

logger = logging.getLogger("django_express_session")

DJANGO = "django"
EXPRESS = "express"
#: The document's format; a reader refuses a newer one rather than misread it.
FORMAT = 1
#: What each secret's fingerprint is the HMAC-SHA256 of (the Node package uses the same).
FINGERPRINT_MESSAGE = b"django-express-session policy"


class UnreadablePolicy(ValueError):
    """The other side's published document is not a policy this version can read."""


def fingerprint(secret: Secret) -> str:
    """The secret's fingerprint: tells whether two apps hold the same secret, and
    nothing a signed cookie does not already tell (both are an HMAC keyed by it)."""
    key = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    return hmac.new(key, FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()


def _passport(options: Options) -> dict[str, Any] | None:
    if options.passport is None:
        return None
    serializer = options.passport.serializer
    if isinstance(serializer, FieldSerializer):
        return {"field": serializer.field}
    return {"serializer": f"{type(serializer).__module__}.{type(serializer).__qualname__}"}


def of_options(options: Options) -> dict[str, Any]:
    """This app's policy (``touchAfter`` as the options settle it, a store's own
    included)."""
    lifetime = options.lifetime
    return {
        "format": FORMAT,
        "side": DJANGO,
        "publishedAt": format_js_date(datetime.now(timezone.utc)),
        "name": options.name,
        "secretFingerprints": [fingerprint(secret) for secret in options.secrets],
        "resave": options.resave,
        "saveUninitialized": options.save_uninitialized,
        "rolling": options.rolling,
        "cookie": {"maxAge": options.cookie.given.get("maxAge")},
        "absoluteMaxAge": lifetime.absolute_max_age_ms,
        "absoluteMaxAgeFrom": lifetime.absolute_from,
        "touchAfter": lifetime.touch_after_ms / 1000,
        "passport": _passport(options),
    }


def parse(text: str | bytes) -> dict[str, Any]:
    """The other side's document, checked; ``UnreadablePolicy`` says what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UnreadablePolicy(f"it is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise UnreadablePolicy("it is not a JSON object")
    if document.get("format") != FORMAT:
        raise UnreadablePolicy(
            f"its format is {document.get('format')!r}; this version reads {FORMAT}"
        )
    fingerprints = document.get("secretFingerprints", [])
    if not isinstance(fingerprints, list) or not all(isinstance(f, str) for f in fingerprints):
        raise UnreadablePolicy("'secretFingerprints' is not a list of strings")
    cookie = document.get("cookie", {})
    if not isinstance(cookie, dict):
        raise UnreadablePolicy("'cookie' is not an object")
    return document


# -- comparing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """One setting the two apps disagree on: what differs and what to change."""

    check_id: str
    message: str
    hint: str


def _js(value: Any) -> str:
    """A value as the Express app's options spell it."""
    return json.dumps(value)


@dataclass(frozen=True)
class _Setting:
    """A setting compared as is, when the Express app's document states it."""

    check_id: str
    path: tuple[str, ...]  # ("cookie", "maxAge"): where it sits in a document
    express: str  # which part of the Express app sets it
    why: str

    @property
    def django(self) -> str:
        return "EXPRESS_SESSION" + "".join(f"[{key!r}]" for key in self.path)

    def _holder(self, policy: Mapping[str, Any]) -> Mapping[str, Any]:
        for key in self.path[:-1]:
            policy = policy.get(key) or {}
        return policy

    def stated(self, policy: Mapping[str, Any]) -> bool:
        """Whether ``policy`` gives the setting (a null counts as given)."""
        return self.path[-1] in self._holder(policy)

    def value(self, policy: Mapping[str, Any]) -> Any:
        return self._holder(policy).get(self.path[-1])


_SETTINGS = (
    _Setting(
        "W032", ("resave",), "express-session",
        "A side with resave true writes back every session it loads, so its writes "
        "race the other app's on every request.",
    ),
    _Setting(
        "W033", ("saveUninitialized",), "express-session",
        "Visitors get a stored session on one app and none on the other.",
    ),
    _Setting(
        "W034", ("rolling",), "express-session",
        "The cookie's expiry is refreshed by one app and not by the other.",
    ),
    _Setting(
        "W035", ("cookie", "maxAge"), "express-session",
        "A session then lasts as long as the app that answered last says.",
    ),
    _Setting(
        "W036", ("absoluteMaxAge",), "guard()",
        "One app ends sessions at the cap and the other keeps them alive.",
    ),
    _Setting(
        "W036", ("absoluteMaxAgeFrom",), "guard()",
        "The two apps start the absolute clock at different moments.",
    ),
    _Setting(
        "W037", ("touchAfter",), "share()",
        "One app refreshes the store's expiry more often than the other.",
    ),
)  # fmt: skip


def _secrets(mine: Sequence[str], theirs: Sequence[str]) -> list[Mismatch]:
    mismatches = []
    if theirs and theirs[0] not in mine:
        mismatches.append(
            Mismatch(
                "W031",
                "The Express app signs its cookies with a secret that is not in "
                "EXPRESS_SESSION['secret']: this app rejects every cookie it sets.",
                "Put the Express app's first secret in EXPRESS_SESSION['secret'] (first, "
                "or second while rotating). Without 'secret', this app's secret is derived "
                "from SECRET_KEY and no Express app holds it: set 'secret' explicitly.",
            )
        )
    if mine and mine[0] not in theirs:
        mismatches.append(
            Mismatch(
                "W031",
                "This app signs its cookies with EXPRESS_SESSION['secret'][0], which is not "
                "among the Express app's secrets: the Express app rejects every cookie "
                "this app sets.",
                "Give the Express app the same first secret (its secret option, or add it to "
                "its list while rotating).",
            )
        )
    return mismatches


def _passport_mismatch(mine: Any, theirs: Any) -> Mismatch | None:
    their_field = theirs.get("field") if isinstance(theirs, dict) else None
    if their_field is None:
        return None  # the Express app names no field: nothing to compare
    if mine is None:
        return Mismatch(
            "W038",
            f"The Express app keeps passport.user as the user's {their_field!r}, but "
            "EXPRESS_SESSION['passport'] is not set: Express logins are not logins here.",
            f"Set EXPRESS_SESSION['passport'] = {{'field': {their_field!r}}}.",
        )
    if "field" in mine and mine["field"] != their_field:
        return Mismatch(
            "W038",
            f"EXPRESS_SESSION['passport']['field'] is {mine['field']!r}, but the Express "
            f"app's passport field is {their_field!r}: a login on one app names another "
            "user, or nobody, on the other.",
            "Make both name the field passport's serializeUser stores.",
        )
    return None


def compare(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[Mismatch]:
    """Each setting of this app's policy ``mine`` that the Express app's ``theirs``
    contradicts in a way that breaks sharing. A setting the Express app does not state
    (its document leaves the key out) is not compared."""
    mismatches = []
    if "name" in theirs and theirs["name"] != mine["name"]:
        mismatches.append(
            Mismatch(
                "W030",
                f"The Express app's cookie is {theirs['name']!r}, this app's is "
                f"{mine['name']!r}: neither app sees the other's sessions.",
                f"Set EXPRESS_SESSION['name'] = {theirs['name']!r}, or name: "
                f"{_js(mine['name'])} in the Express app's session options.",
            )
        )
    if "secretFingerprints" in theirs:
        mismatches += _secrets(mine["secretFingerprints"], theirs["secretFingerprints"])
    for setting in _SETTINGS:
        if not setting.stated(theirs):
            continue
        mine_value, their_value = setting.value(mine), setting.value(theirs)
        if mine_value != their_value:
            option = ".".join(setting.path)
            mismatches.append(
                Mismatch(
                    setting.check_id,
                    f"{setting.django} is {mine_value!r} here, but the Express app's "
                    f"{option} ({setting.express}) is {_js(their_value)}. {setting.why}",
                    f"Set the same value on both sides: {setting.django} = "
                    f"{their_value!r}, or {option}: {_js(mine_value)} in the Express app.",
                )
            )
    passport = _passport_mismatch(mine.get("passport"), theirs.get("passport"))
    if passport is not None:
        mismatches.append(passport)
    return mismatches


# -- publishing and reading through the store --------------------------------------------


def publish(options: Options, store: Store) -> None:
    """Write this app's policy where the Express app reads it (best effort)."""
    store.publish_policy(DJANGO, json.dumps(of_options(options)))


def express_policy(store: Store) -> dict[str, Any] | None:
    """The Express app's published policy, or None if none is published."""
    text = store.read_policy(EXPRESS)
    return None if text is None else parse(text)


def mismatches(options: Options, store: Store) -> list[Mismatch]:
    """What the Express app's published policy contradicts (``UnreadablePolicy`` if it
    cannot be read; nothing if none is published)."""
    theirs = express_policy(store)
    return [] if theirs is None else compare(of_options(options), theirs)


#: The stores this process has published to (once each: a settings change in tests
#: builds a new store).
_published: weakref.WeakSet[Store] = weakref.WeakSet()
_published_lock = threading.Lock()


def publish_once(options: Options, store: Store) -> threading.Thread | None:
    """On this process's first request with ``store``: publish, then log what the
    Express app's policy contradicts, in a thread of its own, so that no request waits
    for it (nor for a store that does not answer). Returns that thread, or None when
    this store was published to already."""
    with _published_lock:
        if store in _published:
            return None
        _published.add(store)
    thread = threading.Thread(
        target=_publish_and_compare,
        args=(options, store),
        name="express-session-policy",
        daemon=True,
    )
    thread.start()
    return thread


def _publish_and_compare(options: Options, store: Store) -> None:
    """Failures are logged, never raised: the app goes on without the comparison."""
    from django.db import connections

    try:
        publish(options, store)
        found = mismatches(options, store)
    except UnreadablePolicy as error:
        logger.warning("The Express app's session policy cannot be read: %s", error)
        return
    except Exception as error:
        logger.warning("The session policy was not published or checked: %r", error)
        return
    finally:
        connections.close_all()  # this thread's own (the database store's)
    for mismatch in found:
        logger.warning("%s %s (%s)", mismatch.message, mismatch.hint, mismatch.check_id)
