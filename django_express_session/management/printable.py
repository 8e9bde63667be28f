"""Text from records or users, made safe to print on a terminal."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL: an escape sequence in a stored user agent or a username
# could rewrite the operator's terminal (move the cursor, hide lines, set the title).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character shown as ``\\xNN``."""
    return _CONTROLS.sub(lambda found: f"\\x{ord(found.group()):02x}", text)
