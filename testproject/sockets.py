"""A plain ASGI WebSocket app (no Channels): who the socket's user is, on connect and on
every message, so a test or the demo sees the session and the login a socket opened
with."""

from __future__ import annotations

import json
from typing import Any


def whoami(scope: Any) -> str:
    user = scope.get("user")
    session = scope.get("session")
    return json.dumps(
        {
            "user": user.get_username() if user is not None and user.is_authenticated else None,
            "stored": bool(session is not None and session.state.stored),
        }
    )


async def whoami_socket(scope: Any, receive: Any, send: Any) -> None:
    """Accept, tell who the user is, and again for each message, until the client or
    the session ends the socket."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": whoami(scope)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": whoami(scope)})
