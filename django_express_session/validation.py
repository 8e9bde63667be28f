"""Checks of configuration values, shared by ``conf`` (the ``EXPRESS_SESSION`` options)
and the stores (``EXPRESS_SESSION["store"]["options"]``): one wording, and an
``ImproperlyConfigured`` that names the key."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .core.limit import END_OLDEST, POLICIES

SETTING = "EXPRESS_SESSION"


def invalid(key: str, problem: str) -> ImproperlyConfigured:
    """An error about ``EXPRESS_SESSION[key]`` (``key`` as written, quotes included)."""
    return ImproperlyConfigured(f"{SETTING}[{key}] {problem}")


def did_you_mean(given: Any, known: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` when ``given`` is a near miss of one of ``known``, else
    the empty string: a typo gets its fix, not only the list of names."""
    if not isinstance(given, str):
        return ""
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    if not close:
        lowered = {name.lower(): name for name in known}
        close = [lowered[given.lower()]] if given.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys(
    key: str, unknown: Collection[str], known: Collection[str]
) -> ImproperlyConfigured:
    """``EXPRESS_SESSION[key]`` holds keys it does not take: name them, the near miss of
    the first, and the keys it takes."""
    first = sorted(unknown)[0]
    return invalid(
        key,
        f"has unknown keys {sorted(unknown)}{did_you_mean(first, known)}; use {sorted(known)}",
    )


def option_error(store: str, key: str, problem: str) -> ImproperlyConfigured:
    """An error about a store option: ``EXPRESS_SESSION['store']['options'][key]``."""
    return invalid(f"'store']['options'][{key!r}", f"({store} store) {problem}")


def check_number(
    store: str,
    key: str,
    value: Any,
    *,
    minimum: float | None = None,
    allow_none: bool = False,
    whole: bool = False,
) -> Any:
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise option_error(store, key, f"must be a number, not {value!r}")
    if whole and not isinstance(value, int):
        raise option_error(store, key, f"must be a whole number, not {value!r}")
    if minimum is not None and value < minimum:
        raise option_error(store, key, f"must be at least {minimum}, not {value!r}")
    return value


def check_bool(store: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise option_error(store, key, f"must be True or False, not {value!r}")
    return value


def check_str(store: str, key: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise option_error(
            store, key, f"must be a{'' if allow_empty else ' non-empty'} string, not {value!r}"
        )
    return value


def check_choice(store: str, key: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        raise option_error(store, key, f"must be one of {list(choices)}, not {value!r}")
    return value


def imported(value: Any, error: ImproperlyConfigured | Any) -> Any:
    """``value``, or what its dotted path names; ``error(problem)`` builds the error
    raised when it cannot be imported."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as failure:
        raise error(f"cannot be imported: {failure}") from None


# -- store options as data ----------------------------------------------------------------

#: (store name, the option's Node name, the value) -> the value, checked.
Check = Callable[[str, str, Any], Any]
S = TypeVar("S", bound="StoreOptions")


@dataclass(frozen=True, slots=True)
class Spec:
    """How a store option is given and checked: its Node name (the key in
    ``EXPRESS_SESSION["store"]["options"]`` and in every message), its check, and whether
    it is accepted (so a Node configuration can be copied) but has no effect here."""

    node: str
    check: Check
    ignored: bool = False


def option(node: str, check: Check | None = None, *, default: Any, ignored: bool = False) -> Any:
    """A field of a store's frozen options class, with its ``Spec``."""
    spec = Spec(node, check or _as_is, ignored)
    return field(default=default, metadata={"spec": spec})


def _as_is(store: str, key: str, value: Any) -> Any:
    return value


def number(*, minimum: float | None = None, whole: bool = False, allow_none: bool = False) -> Check:
    return lambda store, key, value: check_number(
        store, key, value, minimum=minimum, whole=whole, allow_none=allow_none
    )


def string(*, allow_empty: bool = False, allow_none: bool = False) -> Check:
    def checked(store: str, key: str, value: Any) -> Any:
        if value is None and allow_none:
            return value
        return check_str(store, key, value, allow_empty=allow_empty)

    return checked


def choice(*choices: Any) -> Check:
    return lambda store, key, value: check_choice(store, key, value, choices)


def node_names(options_class: type) -> list[str]:
    """The Node names of a store's options, sorted (as ``from_options`` lists them)."""
    return sorted(item.metadata["spec"].node for item in fields(options_class))


def check_known(store: str, given: Mapping[str, Any], known: list[str]) -> None:
    """An unknown key is an error that lists the store's options."""
    for key in given:
        if key not in known:
            raise ImproperlyConfigured(
                f"{SETTING}['store']['options'][{key!r}] is not an option of the "
                f"{store} store{did_you_mean(key, known)}; its options are {known}"
            )


@dataclass(frozen=True)
class StoreOptions:
    """The base of a store's options: a frozen dataclass whose fields are
    ``option(...)``s, with snake_case names for Python and Node's names for settings and
    messages. Every value is checked when the object is made, whether ``from_options``
    parsed it from settings or code built it; ``check`` adds the checks that involve
    several options."""

    #: The store's name in messages.
    store: ClassVar[str] = "custom"

    def __post_init__(self) -> None:
        for item in fields(self):
            spec = item.metadata["spec"]
            checked = spec.check(self.store, spec.node, getattr(self, item.name))
            object.__setattr__(self, item.name, checked)
        self.check()

    def check(self) -> None:
        """Checks that involve several options (``option_error`` naming one)."""


def parse_store_options(options_class: type[S], given: Mapping[str, Any]) -> S:
    """The one parser of every store's options: ``given`` (Node's names, from
    ``EXPRESS_SESSION["store"]["options"]``) as the store's options object; an unknown
    key names the known ones, a bad value its key."""
    check_known(options_class.store, given, node_names(options_class))
    values = {}
    for item in fields(options_class):
        spec = item.metadata["spec"]
        if spec.node in given:
            values[item.name] = given[spec.node]
    return options_class(**values)


# -- the session policies (``limits``, ``account_events``) --------------------------------

#: The account events ``endSessionsOn`` may list, each ending every session of the user.
ACCOUNT_EVENTS = ("password", "deactivate", "delete")


def session_limit(config: Mapping[str, Any]) -> tuple[Any, str]:
    """``maxSessionsPerUser`` (None, a whole number from 1, a callable ``f(user) -> int |
    None`` or the dotted path of one) and ``onSessionLimit``."""
    limit = config.get("maxSessionsPerUser")
    if isinstance(limit, str):
        limit = imported(limit, lambda problem: invalid("'maxSessionsPerUser'", problem))
        if not callable(limit):
            raise invalid(
                "'maxSessionsPerUser'", f"must name a function f(user) -> int | None, not {limit!r}"
            )
    elif (
        limit is not None
        and not callable(limit)
        and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1)
    ):
        raise invalid(
            "'maxSessionsPerUser'",
            f"must be a whole number from 1, a function f(user) -> int | None or its "
            f"dotted path, or None, not {limit!r}",
        )
    policy = config.get("onSessionLimit", END_OLDEST)
    if policy not in POLICIES:
        raise invalid("'onSessionLimit'", f"must be one of {list(POLICIES)}, not {policy!r}")
    return limit, policy


def end_sessions_on(config: Mapping[str, Any]) -> frozenset[str]:
    """``endSessionsOn``: a list of ``ACCOUNT_EVENTS`` (all of them by default; ``[]``:
    none)."""
    value = config.get("endSessionsOn", ACCOUNT_EVENTS)
    if not isinstance(value, (list, tuple)):
        raise invalid(
            "'endSessionsOn'", f"must be a list of {list(ACCOUNT_EVENTS)} (or []), not {value!r}"
        )
    for item in value:
        if item not in ACCOUNT_EVENTS:
            raise invalid(
                "'endSessionsOn'", f"lists {item!r}, which is not one of {list(ACCOUNT_EVENTS)}"
            )
    return frozenset(value)
