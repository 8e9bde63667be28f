"""Session ids, as uid-safe makes them for express-session."""

from __future__ import annotations

import base64
import os
from typing import Any


def generate_sid(request: Any = None) -> str:
    """24 random bytes in base64url without padding: 32 characters of ``[A-Za-z0-9_-]``."""
    return base64.urlsafe_b64encode(os.urandom(24)).decode("ascii")
