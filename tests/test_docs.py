"""Every ```python block of README.md and docs/**/*.md runs, so no example can lack an
import or pass a setting the system checks warn about.

The convention, for whoever writes a block:

* A block is a self-contained snippet: it is executed in a fresh namespace in this
  (configured) Django test process, and every name it uses, function bodies included,
  must be imported or defined in it (ruff's undefined-name rule reads it first).
* A block whose first line is ``# settings.py`` is an excerpt of a settings module: its
  upper-case names are laid over the test project's settings and the system checks run.
  No error, and no warning, is allowed. A block that shows a warning on purpose says
  which on its first line: ``# settings.py: warns W022`` (several: ``W022, W023``; ids
  without a dot are this package's).
* ``ROOT_URLCONF = "mysite.urls"`` names a project of the reader's: the tests provide an
  empty ``mysite.urls``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core import checks
from django.test import override_settings
from django.utils.module_loading import import_string

from django_express_session import conf
from django_express_session.validation import node_names

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

PYTHON_BLOCK = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)  # fmt: skip
SETTINGS_MARK = re.compile(r"# settings\.py(?:: warns (?P<warns>[\w., ]+))?[ \t]*")
RUFF = Path(sys.executable).with_name("ruff")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def settings_mark(self) -> re.Match[str] | None:
        return SETTINGS_MARK.fullmatch(self.code.split("\n", 1)[0])

    @property
    def declared_warnings(self) -> set[str]:
        mark = self.settings_mark
        if mark is None or not mark["warns"]:
            return set()
        ids = {part.strip() for part in mark["warns"].split(",")}
        return {i if "." in i else f"django_express_session.{i}" for i in ids}


def python_blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(
            page,
            text.count("\n", 0, match.start()) + 2,  # the first line of code
            textwrap.dedent(match["code"]),
        )
        for match in PYTHON_BLOCK.finditer(text)
    ]


BLOCKS = [block for page in PAGES for block in python_blocks(page)]
SETTINGS_BLOCKS = [b for b in BLOCKS if b.settings_mark]
SNIPPETS = [b for b in BLOCKS if not b.settings_mark]


def undefined_names(code: str) -> list[str]:
    """What ruff's pyflakes rules find wrong in ``code`` on its own: undefined names
    (function bodies included, which executing the block would not reach) and syntax
    errors."""
    result = subprocess.run(
        [str(RUFF), "check", "--isolated", "--no-cache", "--select", "F821,F822,F823",
         "--output-format", "json", "--stdin-filename", "snippet.py", "-"],
        input=code, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        raise RuntimeError(result.stderr)
    return [f"line {m['location']['row']}: {m['message']}" for m in json.loads(result.stdout)]


def run_snippet(code: str, where: str, **module_globals: object) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": "docs_snippet", **module_globals}
    exec(compile(code, where, "exec"), namespace)
    return namespace


@pytest.fixture
def mysite(tmp_path, monkeypatch):
    """The reader's project the examples name: an importable ``mysite`` package with an
    empty URLconf, whose ``settings.py`` would sit at ``mysite/settings.py``."""
    package = tmp_path / "mysite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "urls.py").write_text("urlpatterns = []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [n for n in sys.modules if n == "mysite" or n.startswith("mysite.")]:
        del sys.modules[name]


def test_every_python_fence_is_checked():
    fences = sum(len(re.findall(r"^[ \t]*```python", page.read_text(), re.M)) for page in PAGES)
    assert len(BLOCKS) == fences > 0


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.where)
def test_block_names_only_what_it_imports_or_defines(block):
    assert undefined_names(block.code) == []


@pytest.mark.parametrize("block", SNIPPETS, ids=lambda block: block.where)
def test_snippet_runs(block, mysite, db, instrumentation_switched_off_after):
    # With the test database: an example may create a user and log in.
    run_snippet(block.code, block.where)


@pytest.fixture
def instrumentation_switched_off_after():
    """The observability page's example switches the OpenTelemetry instrumentation on
    for the whole process: off again after it, for the tests that follow."""
    yield
    from django_express_session.otel import ExpressSessionInstrumentor

    instrumentor = ExpressSessionInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.mark.parametrize("block", SETTINGS_BLOCKS, ids=lambda block: block.where)
def test_settings_excerpt_passes_the_system_checks(block, mysite):
    namespace = run_snippet(block.code, block.where, __file__=str(mysite / "settings.py"))
    # DATABASES stays the test process's: Django makes its connections once (the README's
    # complete example, DATABASES included, is checked in a process of its own below).
    overrides = {n: v for n, v in namespace.items() if n.isupper() and n != "DATABASES"}
    assert overrides, "a settings excerpt sets no setting"
    with override_settings(**overrides):
        conf.get_options()  # the options are valid (ImproperlyConfigured otherwise)
        messages = checks.run_checks()
    errors = [f"{m.id}: {m.msg}" for m in messages if m.is_serious()]
    assert errors == []
    assert {m.id for m in messages} == block.declared_warnings, [m.msg for m in messages]


def test_a_block_that_lacks_an_import_fails():
    lacking = "def sessions_dir():\n    return Path('sessions')\n"
    assert undefined_names(lacking) == ["line 2: Undefined name `Path`"]
    with pytest.raises(NameError):
        run_snippet("SESSIONS = Path('sessions')\n", "lacking.py")


def test_the_warning_marker_names_the_warnings():
    marked = Block(ROOT / "README.md", 1, "# settings.py: warns W022, django.W001\nX = 1\n")
    assert marked.declared_warnings == {"django_express_session.W022", "django.W001"}
    assert Block(ROOT / "README.md", 1, "# settings.py\nX = 1\n").declared_warnings == set()


def test_the_readme_settings_pass_manage_py_check_with_no_warning(mysite):
    """The README's complete settings example, as a reader's ``mysite/settings.py``,
    passes ``manage.py check`` on its own (not over the test project's settings)."""
    (complete,) = [
        b for b in python_blocks(ROOT / "README.md")
        if b.settings_mark and "INSTALLED_APPS" in b.code and "DATABASES" in b.code
    ]  # fmt: skip
    (mysite / "settings.py").write_text(complete.code)
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--settings", "mysite.settings"],
        cwd=mysite.parent, capture_output=True, text=True, check=False,
        env={"PATH": "", "PYTHONPATH": f"{mysite.parent}:{ROOT}"},
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_the_options_page_names_every_option():
    page = (ROOT / "docs" / "options.md").read_text()
    options = conf._TOP_LEVEL | {f"cookie.{key}" for key in conf._COOKIE_KEYS}
    # an option is named in backticks (`rolling`, `"rolling"`), a cookie key maybe alone
    spelled = {o: {o, o.removeprefix("cookie.")} for o in options}
    named = {
        o for o, names in spelled.items() for n in names if f"`{n}`" in page or f'`"{n}"' in page
    }
    assert sorted(options - named) == []


@pytest.mark.parametrize("backend", sorted(conf.STORE_BACKENDS))
def test_each_store_page_names_every_option_of_its_store(backend):
    page = (ROOT / "docs" / "stores" / f"{backend}.md").read_text()
    store = import_string(conf.STORE_BACKENDS[backend])
    options = node_names(store.Options)  # Node's names, as settings spell them
    assert [o for o in options if f"`{o}`" not in page and f'"{o}":' not in page] == []


def _startproject_setting(name: str) -> list[str]:
    """``name`` (a list) as Django's ``startproject`` template writes it."""
    import ast

    import django

    template = Path(django.__file__).parent / "conf/project_template/project_name/settings.py-tpl"
    for node in ast.parse(template.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not in Django's project template")


def test_the_migration_guide_changes_only_the_session_lines_of_a_stock_project():
    (sample,) = [
        b for b in python_blocks(ROOT / "docs" / "migrating.md")
        if b.settings_mark and "MIDDLEWARE" in b.code
    ]  # fmt: skip
    names = run_snippet(sample.code, sample.where)
    ours = "django_express_session.middleware.SessionMiddleware"
    django = "django.contrib.sessions.middleware.SessionMiddleware"

    stock = _startproject_setting("MIDDLEWARE")
    assert names["MIDDLEWARE"] == [ours if name == django else name for name in stock]
    stock_apps = _startproject_setting("INSTALLED_APPS")
    assert [app for app in names["INSTALLED_APPS"] if app != "django_express_session"] == stock_apps
    assert names["EXPRESS_SESSION"]["cookie"]["sameSite"] == "lax"  # Django's default


@pytest.mark.parametrize("backend", sorted(conf.STORE_BACKENDS))
def test_the_stores_overview_names_every_option_of_each_store(backend):
    page = (ROOT / "docs" / "stores" / "index.md").read_text()
    (row,) = [line for line in page.splitlines() if line.startswith(f"| [`{backend}`]")]
    options = node_names(import_string(conf.STORE_BACKENDS[backend]).Options)
    assert [option for option in options if f"`{option}`" not in row] == []


def test_the_pages_urlconf_is_mounted_at_one_path_in_every_page():
    include = re.compile(r'path\("([^"]*)", include\("django_express_session\.urls"\)\)')
    mounts = {found for page in PAGES for found in include.findall(page.read_text())}
    assert mounts == {"account/"}


def test_the_overview_leaves_the_secret_unset_as_the_readme_says():
    (sample,) = [b for b in python_blocks(ROOT / "docs" / "index.md") if b.settings_mark]
    assert "secret" not in run_snippet(sample.code, sample.where)["EXPRESS_SESSION"]


def test_long_code_lines_wrap_on_the_site():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (stylesheet,) = config["extra_css"]
    css = (ROOT / "docs" / stylesheet).read_text()
    assert re.search(r"\.md-typeset pre > code \{[^}]*white-space: pre-wrap", css)
