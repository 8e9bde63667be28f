"""Run a real express store from the tests (``interop/node/store-call.js``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.servers.process import require

NODE_DIR = Path(__file__).resolve().parent.parent / "interop" / "node"


def store_call(store: str, options: dict[str, Any], *calls: dict[str, Any]) -> list[Any]:
    """Make ``calls`` on the express store ``store`` built with ``options``; return the
    results (``get`` gives the session JSON the store returned)."""
    node = require("node")
    if not (NODE_DIR / "node_modules" / "express-session").is_dir():
        require("interop/node/node_modules (scripts/test runs npm ci)")
    request = json.dumps({"store": store, "options": options, "calls": list(calls)})
    done = subprocess.run(
        [node, str(NODE_DIR / "store-call.js"), request],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"store-call.js failed: {done.stderr}")
    return json.loads(done.stdout)
