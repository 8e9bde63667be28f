"""The signed cookie value, as cookie-signature 1.0.7 and express-session make it.

``s:`` + sid + ``.`` + base64(HMAC-SHA256(secret, sid)) without ``=`` padding, then
URL-encoded as ``encodeURIComponent`` does. The first secret signs; every secret verifies,
so secrets can be rotated by putting the new one first.

The secrets the options hold are ``masked``: Django's debug page (``DEBUG = True``) and
its error reports (``DEBUG = False``) show ``'****'`` for them in every frame. The two
entry points that handle a request's secrets are also ``sensitive_variables``, so error
reports show none of their locals (the helpers they call are not decorated: the
decorator costs a call each, and the masked type already hides the secret there).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import quote

from django.views.decorators.debug import sensitive_variables

Secret = str | bytes

MASK = "'********************'"  # what Django's error reports put in a cleansed variable's place


class SecretText(str):
    """A secret string whose repr is masked: Django's debug page (``DEBUG = True``,
    where ``sensitive_variables`` does not apply) shows the reprs of frame locals."""

    __slots__ = ()

    def __repr__(self) -> str:
        return MASK


class SecretBytes(bytes):
    """A secret byte string whose repr is masked."""

    __slots__ = ()

    def __repr__(self) -> str:
        return MASK


def masked(secret: Secret) -> Secret:
    """``secret``, with the same value, comparing equal, and a masked repr."""
    return SecretText(secret) if isinstance(secret, str) else SecretBytes(secret)


# What encodeURIComponent leaves alone besides letters and digits.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def _key(secret: Secret) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def sign(value: str, secret: Secret) -> str:
    mac = hmac.new(_key(secret), value.encode("utf-8"), hashlib.sha256).digest()
    return value + "." + base64.b64encode(mac).decode("ascii").rstrip("=")


def unsign(signed: str, secrets: Sequence[Secret]) -> str | None:
    """The value whose signature one of ``secrets`` made, else None (constant time)."""
    dot = signed.rfind(".")
    value = signed[:dot] if dot >= 0 else signed[:-1]
    try:
        expected = signed.encode("utf-8")
    except UnicodeEncodeError:
        return None
    for secret in secrets:
        if hmac.compare_digest(sign(value, secret).encode("utf-8"), expected):
            return value
    return None


@sensitive_variables()
def cookie_value(sid: str, secret: Secret) -> str:
    """The cookie value to send (already URL-encoded)."""
    return _cookie_value(sid, secret)


# A session's every write sends its cookie again, signed again; and every request of it
# verifies the same value: both remembered for the busiest recent sessions. A value
# that does not verify is remembered as None, so a wrong one is never let through; the
# secrets are part of the key, so a rotation takes effect at once.
_MEMORY = 4096


@functools.lru_cache(maxsize=_MEMORY)
def _cookie_value(sid: str, secret: Secret) -> str:
    return quote("s:" + sign(sid, secret), safe=_URI_COMPONENT_SAFE)


@functools.lru_cache(maxsize=_MEMORY)
def _verified(signed: str, secrets: tuple[Secret, ...]) -> str | None:
    return unsign(signed, secrets)


@sensitive_variables()
def session_id(raw: str | None, secrets: Sequence[Secret]) -> str | None:
    """The session id in a decoded cookie value, or None when it is absent, unsigned or
    signed with no secret of ``secrets``."""
    if not raw or not raw.startswith("s:"):
        return None
    return _verified(raw[2:], tuple(secrets))
