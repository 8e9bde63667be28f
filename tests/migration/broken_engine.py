"""A third-party session engine whose backend is down: every load raises."""

from django.contrib.sessions.backends.base import SessionBase


class SessionStore(SessionBase):
    def load(self):
        raise ConnectionError("the old session backend is down")
