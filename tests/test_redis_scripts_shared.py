"""The Django Redis store and the npm package's share() run the same Lua scripts on
the same keys, so both apps compare-and-set and file sessions alike. Each package ships
its own copy (they are installed apart); this test keeps the two copies one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from django_express_session.stores.redis import index, layout, limit

NODE_STORE = Path(__file__).resolve().parents[1] / "node" / "lib" / "stores" / "redis.js"


def node_script(name: str) -> str:
    found = re.search(rf"^const {name} = `(.*?)`$", NODE_STORE.read_text(), re.S | re.M)
    assert found, f"{name} is not a template literal of {NODE_STORE}"
    return found.group(1)


def text(script: str | bytes) -> str:
    return script.decode() if isinstance(script, bytes) else script


@pytest.mark.parametrize(
    ("name", "python"),
    [("REPLACE", layout.REPLACE), ("INDEX_ADD", index.INDEX_ADD), ("TRIM", limit.TRIM)],
)
def test_both_apps_run_the_same_script(name, python):
    assert node_script(name).strip() == text(python).strip()
