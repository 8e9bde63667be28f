"""Client details (the ``track`` option), and which app wrote a record last.

With ``EXPRESS_SESSION["track"] = ["ip", "userAgent"]`` (any subset; ``[]``, the
default, is off) each record Django writes carries, in its ``OWN_KEY`` dict:
``createdAt`` (epoch ms, the first time Django stored the session), ``lastSeenAt``
(epoch ms, the latest write), the tracked ``ip`` and ``userAgent`` of the request that
wrote it, and ``writtenBy: "django"`` with a ``digest`` of the record as written.

When a request writes is ``core.decide``'s: a stored session that the request would
leave as it is gets one write when its ``lastSeenAt`` is ``Lifetime.visit_interval_ms``
old.
An Express app carries the dict through untouched, so a record whose contents no longer
match the digest was last written there (``written_by``). The npm package's ``guard()``
with ``track`` writes the same fields on the Express side, with ``writtenBy:
"express"`` and no digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from django.http import HttpRequest

from .core.state import OWN_KEY, Fingerprint, own_moment
from .http import client_ip
from .record import dumps, fingerprint

#: The client details ``track`` may list.
TRACKABLE = ("ip", "userAgent")
#: User agents are cut to this many characters (some are kilobytes of tokens).
USER_AGENT_LIMIT = 512


def visited(
    own: Mapping[str, Any] | None,
    *,
    now_ms: int,
    request: HttpRequest | None,
    track: Collection[str],
    proxy: bool | None,
    digest_of_record: str,
) -> dict[str, Any]:
    """``own`` (the record's ``OWN_KEY`` dict) as a write by Django leaves it, with the
    client details ``track`` lists (the client's address under the ``proxy`` option's
    trust rules). A session used without a request (a shell) keeps the ones it had."""
    updated = dict(own or {})
    if own_moment(updated, "createdAt") is None:
        updated["createdAt"] = now_ms
    updated["lastSeenAt"] = now_ms
    if request is not None:
        if "ip" in track:
            _set_or_drop(updated, "ip", client_ip(request, proxy))
        if "userAgent" in track:
            agent = request.META.get("HTTP_USER_AGENT") or None
            _set_or_drop(updated, "userAgent", agent and agent[:USER_AGENT_LIMIT])
    updated["writtenBy"] = "django"
    updated["digest"] = digest_of_record
    return updated


def _set_or_drop(own: dict[str, Any], key: str, value: str | None) -> None:
    if value is None:
        own.pop(key, None)  # this client sent none: an older one's would mislead
    else:
        own[key] = value


def digest(data: Fingerprint, cookie: Mapping[str, Any]) -> str:
    """A short digest of a record's contents: its data (as ``record.fingerprint`` gives
    it, in any key order) and its cookie but ``expires``, which a touch moves (Node's
    rolling cookie, or a store refreshing the expiry), so a touch is no write."""
    hashed = hashlib.blake2b(digest_size=12)
    for key in sorted(data):
        value = data[key]
        hashed.update(f"{len(key)}:{key}{len(value)}:{value}".encode("utf-8", "surrogatepass"))
    settings = {key: cookie[key] for key in sorted(cookie) if key != "expires"}
    hashed.update(dumps(settings).encode("utf-8", "surrogatepass"))
    return hashed.hexdigest()


def written_by(record: Mapping[str, Any], metadata_keys: Collection[str] = ()) -> str | None:
    """``"django"`` when the record is as Django last wrote it, ``"express"`` when its
    contents changed since (an Express app rewrote it) or the Express app's ``guard()``
    recorded its own write, None when neither says (``track`` was off, or Django never
    wrote it). ``metadata_keys`` are the store's own keys of the record
    (``Store.metadata_keys``), which are not its contents."""
    own = record.get(OWN_KEY)
    if isinstance(own, Mapping) and own.get("writtenBy") == "express":
        return "express"
    written = own.get("digest") if isinstance(own, Mapping) else None
    if not isinstance(written, str):
        return None
    cookie = record.get("cookie")
    data = {
        key: value
        for key, value in record.items()
        if key != "cookie" and key != OWN_KEY and key not in metadata_keys
    }
    try:
        now = digest(fingerprint(data), cookie if isinstance(cookie, Mapping) else {})
    except (TypeError, ValueError):
        return "express"  # nothing Django would have written
    return "django" if now == written else "express"
