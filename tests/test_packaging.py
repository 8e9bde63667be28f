"""What pyproject.toml says about the package agrees with what it is: the classifiers
name exactly the Python and Django versions tox tests, and package-data ships every
non-Python file of the package with no glob that matches nothing."""

from __future__ import annotations

import configparser
import itertools
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_express_session"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def expand(env: str) -> list[str]:
    """tox's brace expansion: ``py{312,313}-django{60,61}`` is four environments."""
    parts = re.split(r"\{([^}]*)\}", env)
    choices = [[part] if i % 2 == 0 else part.split(",") for i, part in enumerate(parts)]
    return ["".join(combination) for combination in itertools.product(*choices)]


def tox_environments() -> list[str]:
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    return [env for line in tox["tox"]["envlist"].split() for env in expand(line.strip())]


def test_brace_expansion():
    assert expand("py{312,313}-django{60,61}") == [
        "py312-django60", "py312-django61", "py313-django60", "py313-django61",
    ]  # fmt: skip


def test_classifiers_name_the_versions_tox_tests():
    pythons, djangos = set(), set()
    for env in tox_environments():
        python, major, minor = re.fullmatch(r"py3(\d+)-django(\d)(\d)", env).groups()
        pythons.add(f"3.{python}")
        djangos.add(f"{major}.{minor}")
    classifiers = PROJECT["project"]["classifiers"]
    assert {c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")} == pythons  # fmt: skip
    assert {c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Framework :: Django :: ")} == djangos  # fmt: skip


def test_package_data_ships_every_data_file_and_no_glob_matches_nothing():
    globs = PROJECT["tool"]["setuptools"]["package-data"]["django_express_session"]
    matched = {glob: {p for p in PACKAGE.glob(glob) if p.is_file()} for glob in globs}
    assert [glob for glob, files in matched.items() if not files] == []
    data_files = {
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    assert data_files - set().union(*matched.values()) == set()
