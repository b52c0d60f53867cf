"""One real browser: headless Chromium (Debian's `chromium` package) drives the served console (`coalition console
serve` in a subprocess, against the test database): log in, open Partners, find the liabilities table, screenshot.

Chromium missing is a failure with a message, never a skip: `./run test` (coalition.testing) installs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from console import auth

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "artifacts" / "console-partners.png"
USER, PASSWORD = "browser-admin", "browser-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the console exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the console did not answer at {url} within {seconds} s")


@contextmanager
def serving_console(database_url: str, data_dir: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """`coalition console serve` in a subprocess against the test database, with `env` added; yields its URL once
    healthy, and stops it (streamlit included) afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from console.cli import console_app; console_app()", "serve",
         "--address", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url, "COALITION_DATA_DIR": str(data_dir), **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        yield url
    finally:
        streamlit = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        process.terminate()  # `serve` forwards it to streamlit
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for child in streamlit:
            if child.is_running():
                child.kill()


@pytest.fixture
def served_console(database_url: str, tmp_path: Path):
    with serving_console(database_url, tmp_path, _free_port(), {
            "COALITION_CONSOLE_ADMIN_USER": USER,
            "COALITION_CONSOLE_ADMIN_PASSWORD_HASH": auth.hash_password(PASSWORD)}) as url:
        yield url


def test_browser_logs_in_and_finds_the_liabilities_table(make_partner, served_console):
    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium); "
        "`./run test` does it on CI. This test does not skip.")
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
