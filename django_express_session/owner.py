"""Whose session a record is: the user keys Django and passport write into it.

Django's ``login()`` writes ``_auth_user_id`` (the user's primary key as a string);
passport writes ``passport.user`` (what the Express app's ``serializeUser`` returned).
A store that indexes sessions by user indexes these two values, and a store that scans
matches records with ``Owner.owns``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import SESSION_KEY

from .record import dumps

#: Where passport keeps its data in the session, and the user under it.
PASSPORT_KEY = "passport"
PASSPORT_USER_KEY = "user"


def django_user_id(record: Mapping[str, Any]) -> str | None:
    value = record.get(SESSION_KEY)
    return value if isinstance(value, str) else None


def passport_user(record: Mapping[str, Any]) -> Any:
    passport = record.get(PASSPORT_KEY)
    return passport.get(PASSPORT_USER_KEY) if isinstance(passport, Mapping) else None


# Sorted keys: a serializeUser that returns an object names one user whatever the order
# its keys were written in (``Owner.owns`` compares dicts as equal too). Built once:
# ``json.dumps`` with options builds an encoder per call, and every write of a logged-in
# session spells its terms.
_TERM_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _passport_term(value: Any) -> str:
    if type(value) is int:  # an id as a number (a string is encode's own fast path)
        return "p:" + int.__repr__(value)
    return "p:" + _TERM_ENCODER.encode(value)


def passport_forms(value: Any) -> tuple[Any, ...]:
    """The ``passport.user`` values that name the user whose own value is ``value``: the
    value itself and, for an integer id, its decimal text (node-postgres returns bigint
    columns as strings). No other spelling names anyone (``" 1"``, ``"01"``, ``1.0``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, str(value))
    return (value,)


def names(own_value: Any, value: Any) -> bool:
    """Whether ``passport.user == value`` names the user whose own value is
    ``own_value``: the one rule of the bridge, the listings and the indexes."""
    if value is None or isinstance(value, bool):  # bool is an int in Python, never an id
        return False
    term = _passport_term(value)
    return any(term == _passport_term(form) for form in passport_forms(own_value))


def index_terms(record: Mapping[str, Any]) -> frozenset[str]:
    """The index entries a per-user index files ``record`` under: ``"d:<id>"`` for
    Django's user id, ``"p:<JSON>"`` for passport's user (none for an anonymous record)."""
    terms = set()
    if (django_id := django_user_id(record)) is not None:
        terms.add("d:" + django_id)
    passport = passport_user(record)
    if passport is not None and not isinstance(passport, bool):
        terms.add(_passport_term(passport))
    return frozenset(terms)


@dataclass(frozen=True)
class Owner:
    """One user as the records name them: ``django_id`` is ``str(user.pk)``, ``passport``
    the user's ``passport.user`` value when the identity bridge is configured."""

    django_id: str | None
    passport: Any = None

    def owns(self, record: Mapping[str, Any]) -> bool:
        if self.django_id is not None and django_user_id(record) == self.django_id:
            return True
        return self.passport is not None and names(self.passport, passport_user(record))

    def index_terms(self) -> frozenset[str]:
        """The index entries of this user's records (see ``index_terms``)."""
        forms = passport_forms(self.passport) if self.passport is not None else (None,)
        return frozenset().union(
            *(
                index_terms({SESSION_KEY: self.django_id, PASSPORT_KEY: {PASSPORT_USER_KEY: form}})
                for form in forms
            )
        )

    def lock_term(self) -> str:
        """The one name both apps lock this user's session limit under: passport's term
        when the bridge names the user so (the Express app knows no other), else
        Django's (``index_terms``' spelling)."""
        if self.passport is not None and not isinstance(self.passport, bool):
            return _passport_term(self.passport)
        return f"d:{self.django_id}"

    def json_patterns(self) -> list[str]:
        """Regular expressions (in the syntax Python's ``re`` and MongoDB's ``$regex``
        share) of which the JSON text of each of this user's records matches one,
        however it was written: ``JSON.stringify``'s no spaces, Python's ``", "`` and
        ``": "``, non-ASCII characters raw or as ``\\uXXXX`` escapes. A scan's cheap
        prefilter, to confirm with ``owns``, which decides as the identity bridge does.
        An object's keys may come in any order: for one, only ``"passport":`` is sought."""
        patterns = []
        if self.django_id is not None:
            patterns.append(_member(SESSION_KEY, (self.django_id,)))
        if isinstance(self.passport, (str, int, float)) and not isinstance(self.passport, bool):
            patterns.append(_member(PASSPORT_USER_KEY, passport_forms(self.passport)))
        elif self.passport is not None and not isinstance(self.passport, bool):
            patterns.append(_member(PASSPORT_KEY, ()))
        return patterns


def _member(key: str, values: tuple[Any, ...]) -> str:
    """``"key": value`` as a pattern, with any spacing around the colon and each value
    in either JSON spelling (``values`` empty: any value)."""
    texts = {text for value in values for text in (dumps(value), json.dumps(value))}
    alternatives = "|".join(sorted(map(re.escape, texts)))
    return re.escape(dumps(key)) + r"\s*:" + (rf"\s*(?:{alternatives})" if texts else "")


#: The JSON text of every record with a user key matches one of these (a scan's
#: prefilter, as ``Owner.json_patterns``).
USER_KEY_PATTERNS = (_member(SESSION_KEY, ()), _member(PASSPORT_KEY, ()))
