"""The sessions pages in a real headless Chromium (Debian's, driven by its chromedriver
through Selenium): an admin ends a user's sessions from the user's change page, and a
user logs out of their other sessions, and the other clients are logged out.

Screenshots go to ``$EXPRESS_SESSION_SCREENSHOTS`` when it is set (else the test's
temporary directory): the admin change page, the sessions list, and the user page at
desktop width and at 390x844.
"""

from __future__ import annotations

import base64
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from django_express_session import conf
from django_express_session.core.state import OWN_KEY
from tests.helpers import stored_session
from tests.servers.process import require
from tests.sessions_pages.support import PASSWORD, logged_in, user_of

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # in CI a missing driver package fails, elsewhere it skips
    if os.environ.get("CI"):
        raise
    pytest.skip("selenium is not installed (pip install -e '.[test]')", allow_module_level=True)

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = (1280, 900)
PHONE = (390, 844)


@pytest.fixture
def store_settings(store_file):
    # One store is enough here: the pages' behaviour on each store is the test client's.
    return store_file


@pytest.fixture(autouse=True)
def tracking(express):
    """Client details recorded, as a project showing these pages would have them."""
    express(track=["ip", "userAgent"])


@pytest.fixture
def chromium(tmp_path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = require("chromium")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=require("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_window_size(*DESKTOP)
    # A click on a submit button returns before the next page loads: look up elements
    # until they are there (the assertions on what they say are exact).
    driver.implicitly_wait(10)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("EXPRESS_SESSION_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(
    driver, folder: Path, name: str, size: tuple[int, int] = DESKTOP, only: str | None = None
) -> None:
    """The whole page (or the element matching the selector ``only``), laid out at the
    width of ``size`` (a phone's viewport is a mobile one, so the page's viewport meta
    applies). The viewport grows to the page's height, so no scrollbar takes width."""
    width, height = size

    def viewport(height: int) -> None:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1}
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "mobile": size == PHONE}
        )

    viewport(height)
    page = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    viewport(max(height, math.ceil(page["height"])))
    clip = {"x": 0, "y": 0, "width": width, "height": max(height, page["height"]), "scale": 1}
    if only is not None:
        clip |= driver.execute_script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height};",
            only,
        )
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})
    (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def tracked_session(user: User, **details: object) -> None:
    """A session of ``user`` with the client details client tracking records."""
    now = int(time.time() * 1000)
    record = {
        "_auth_user_id": str(user.pk),
        OWN_KEY: {"createdAt": now - 3 * 86_400_000, "lastSeenAt": now - 600_000, **details},
    }
    conf.get_store().create(f"tracked-{user.pk}-{now}", stored_session(record, 14 * 86_400_000))


def test_an_admin_ends_all_sessions_of_a_user_from_the_change_page(
    live_server, chromium, shots, root, alice, bob
):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    tracked_session(
        alice,
        ip="203.0.113.7",
        userAgent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
        # Django's digest of a record an Express app rewrote since: "written by Express"
        writtenBy="django",
        digest="0" * 24,
    )
    chromium.get(f"{live_server.url}/admin/login/?next=/admin/")
    chromium.find_element(By.ID, "id_username").send_keys("root")
    chromium.find_element(By.ID, "id_password").send_keys(PASSWORD)
    chromium.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The title is read at once, not looked up with the implicit wait: wait for the
    # login page to go before reading it.
    WebDriverWait(chromium, 10).until(lambda driver: "Log in" not in driver.title)
    assert "Site administration" in chromium.title

    chromium.get(f"{live_server.url}/admin/auth/user/sessions/")
    assert len(chromium.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == 5
    screenshot(chromium, shots, "admin-sessions-list")

    chromium.get(f"{live_server.url}/admin/auth/user/{alice.pk}/change/")
    rows = chromium.find_elements(By.CSS_SELECTOR, "#user-sessions tbody tr")
    assert len(rows) == 3
    section = chromium.find_element(By.ID, "user-sessions").text
    assert "203.0.113.7" in section and "Safari on iPhone" in section and "Express" in section
    screenshot(chromium, shots, "admin-user-change-page")
    screenshot(chromium, shots, "admin-user-sessions", only="#user-sessions")

    button = chromium.find_element(By.XPATH, "//button[normalize-space()='End all sessions']")
    chromium.execute_script("arguments[0].scrollIntoView()", button)
    button.click()
    assert (
        "Ended 3 sessions of alice." in chromium.find_element(By.CSS_SELECTOR, ".messagelist").text
    )
    assert "No live session." in chromium.find_element(By.ID, "user-sessions").text
    assert user_of(laptop) is None and user_of(phone) is None
    assert user_of(other) == "bob"


def test_a_user_logs_out_of_their_other_sessions(live_server, chromium, shots, alice, bob):
    phone, other = logged_in("alice"), logged_in("bob")
    tracked_session(
        alice,
        ip="198.51.100.23",
        userAgent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    )
    chromium.get(f"{live_server.url}/login?username=alice&password={PASSWORD}")
    chromium.get(f"{live_server.url}/account/sessions/")
    assert len(chromium.find_elements(By.CSS_SELECTOR, ".session")) == 3
    this_device = chromium.find_element(By.CSS_SELECTOR, ".session.current").text
    assert "this device" in this_device and "Chrome on Linux" in this_device
    assert "127.0.0.1" in this_device
    screenshot(chromium, shots, "user-sessions-desktop")
    screenshot(chromium, shots, "user-sessions-phone", PHONE)

    chromium.find_element(
        By.XPATH, "//button[starts-with(normalize-space(), 'Log out of')]"
    ).click()
    assert (
        "Logged out of 2 other sessions."
        in chromium.find_element(By.CSS_SELECTOR, ".messages").text
    )
    assert len(chromium.find_elements(By.CSS_SELECTOR, ".session")) == 1
    screenshot(chromium, shots, "user-sessions-after", PHONE)
    assert user_of(phone) is None and user_of(other) == "bob"
    chromium.get(f"{live_server.url}/me")
    assert '"user": "alice"' in chromium.find_element(By.TAG_NAME, "body").text
