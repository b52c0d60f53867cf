"""One real browser: headless Chromium (Debian's `chromium` package) drives the served console (`coalition console
serve` in a subprocess, against the test database): log in, open Partners, find the liabilities table, screenshot.

Chromium missing is a failure with a message, never a skip: `./run test` (coalition.testing) installs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from browser_helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, require_chromium, serving
from console import auth
from network.ports import free_port

SCREENSHOT = ROOT / "artifacts" / "console-partners.png"
USER, PASSWORD = "browser-admin", "browser-secret"


def serving_console(database_url: str, data_dir: Path, port: int, env: dict[str, str]):
    """`coalition console serve` in a subprocess against the test database, with `env` added; yields its URL once
    healthy, and stops it (streamlit included) afterwards."""
    return serving([sys.executable, "-c", "from console.cli import console_app; console_app()", "serve"],
                   database_url, data_dir, port, env)


@pytest.fixture
def served_console(database_url: str, tmp_path: Path):
    with serving_console(database_url, tmp_path, free_port(), {
            "COALITION_CONSOLE_ADMIN_USER": USER,
            "COALITION_CONSOLE_ADMIN_PASSWORD_HASH": auth.hash_password(PASSWORD)}) as url:
        yield url


def test_browser_logs_in_and_finds_the_liabilities_table(make_partner, served_console):
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    issuer = make_partner("browser", name="Browser Bakery", credit_limit_minor=1000)
    with issuer.client() as client:
        member = client.enroll_member().member
        client.earn(member.member_id, points=850)  # EUR 8.50 of a 10.00 limit: highlighted as near the limit

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(served_console)
            page.get_by_role("textbox", name="Operator").fill(USER)
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("link", name="Partners").click()
            expect(page.get_by_role("heading", name="Liabilities and exposure")).to_be_visible()
            # the table lists every partner of the test database; the grid paints only the rows in view
            page.get_by_role("textbox", name="Find partners").fill(issuer.partner_id)
            page.get_by_role("textbox", name="Find partners").press("Enter")
            table = page.locator('[data-testid="stDataFrame"]').first
            expect(table).to_be_visible()
            expect(table).to_contain_text("liability (EUR)")
            expect(table).to_contain_text(issuer.partner_id)
            page.wait_for_timeout(500)  # let the grid paint before the screenshot
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
