"""Stores a project might write, for the tests of the store protocol's edges."""

from __future__ import annotations

import json
from typing import Any

from django_express_session.stores.base import ExpressStyleStore, Store


class DictStore(ExpressStyleStore):
    """An express-style store: get/set/destroy over a dict, as a Node tutorial writes."""

    name = "dict"
    blocking = False
    records: dict[str, str] = {}

    def get(self, sid: str) -> dict[str, Any] | None:
        text = self.records.get(sid)
        return None if text is None else json.loads(text)

    def set(self, sid: str, session: dict[str, Any]) -> None:
        self.records[sid] = json.dumps(session)

    def destroy(self, sid: str) -> None:
        self.records.pop(sid, None)


class HalfStore(Store):
    """Forgot the compare-and-set."""

    name = "half"

    def read(self, sid: str, *, touch: bool = False) -> Any:
        return None

    def destroy(self, sid: str) -> None:
        pass
