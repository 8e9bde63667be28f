"""``manage.py migratesessions --from-store``: copy the live sessions of another store of
this package into the configured one, under the same ids.

Moving from one store to another (file to Redis, say) would otherwise log everyone
out: their cookies name sessions the new store does not hold. The ids stay the same, so
with the same ``secret`` and cookie ``name`` every cookie finds its session in the new
store. Each record is ``create``d, which never overwrites: a session the new store
already holds (one a request saved since the switch, or one copied by an earlier run)
is kept and counted, so the command can run again. Records keep their data and
``cookie`` (so their expiry); the old store's own bookkeeping keys
(session-file-store's ``__lastAccess``, connect-mongo's ``lastModified``) are left
behind, and the new store writes its own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import conf
from .exceptions import CreateError

if TYPE_CHECKING:
    from .stores.base import Store


@dataclass
class Copied:
    copied: int = 0
    already: int = 0
    failed: Counter = field(default_factory=Counter)


def source_store(given: str, lifetime: Any = None) -> Store:
    """The store ``--from-store`` names: a JSON object like ``EXPRESS_SESSION["store"]``
    (``{"backend": "file", "options": {"path": "sessions"}}``), or the name of a setting
    that holds one."""
    if given.lstrip().startswith("{"):
        try:
            value: Any = json.loads(given)
        except ValueError as error:
            raise ImproperlyConfigured(f"--from-store is not valid JSON: {error}") from None
    elif given.isidentifier() and hasattr(settings, given):
        value = getattr(settings, given)
    else:
        raise ImproperlyConfigured(
            f"--from-store {given!r} is neither a JSON store (like "
            '\'{"backend": "file", "options": {"path": "sessions"}}\') nor a setting'
        )
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"--from-store must name a dict like EXPRESS_SESSION['store'], not {value!r}"
        )
    return conf.build_store(conf.store_config(value), lifetime)


def copy_sessions(source: Store, target: Store, *, dry_run: bool = False) -> Copied:
    """Create each live session of ``source`` in ``target`` under its id."""
    result = Copied()
    bookkeeping = source.metadata_keys
    for sid, session in source.all().items():
        data = {key: value for key, value in session.items() if key not in bookkeeping}
        try:
            if dry_run:
                if target.read(sid) is not None:
                    raise CreateError(sid)
            else:
                target.create(sid, data)
        except CreateError:
            result.already += 1
        except Exception as error:  # one record the target refuses does not stop the rest
            result.failed[f"{type(error).__name__}: {error}"] += 1
        else:
            result.copied += 1
    return result
