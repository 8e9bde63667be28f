"""Errors a store or the session layer raises on purpose.

Django's own ``CreateError`` and ``UpdateError`` keep their meaning: creating a session
whose id already exists, and saving one that another request destroyed.
"""

from django.contrib.sessions.backends.base import CreateError, UpdateError

__all__ = [
    "CannotListSessions",
    "CorruptRecord",
    "CreateError",
    "InvalidSessionId",
    "StoreUnavailable",
    "UpdateConflict",
    "UpdateError",
]


class StoreUnavailable(Exception):
    """The store could not be reached. It is never read as "no session"."""


class CorruptRecord(ValueError):
    """A stored record is not a JSON object with a ``cookie`` object."""


class UpdateConflict(Exception):
    """A compare-and-set kept failing because other requests kept writing the session."""


class InvalidSessionId(ValueError):
    """A session id this store cannot hold safely (say, a path for the file store)."""


class CannotListSessions(NotImplementedError):
    """The configured store cannot list a user's sessions (``users.sessions_of``,
    ``logout_everywhere``); the message says why and which stores can."""
