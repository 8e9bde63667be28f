"""Checks of configuration values, shared by ``conf`` (the ``EXPRESS_SESSION`` options)
and the stores (``EXPRESS_SESSION["store"]["options"]``): one wording, and an
``ImproperlyConfigured`` that names the key."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

SETTING = "EXPRESS_SESSION"


def invalid(key: str, problem: str) -> ImproperlyConfigured:
    """An error about ``EXPRESS_SESSION[key]`` (``key`` as written, quotes included)."""
    return ImproperlyConfigured(f"{SETTING}[{key}] {problem}")


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
