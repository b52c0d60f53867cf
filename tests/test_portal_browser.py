"""One real browser walk through the member portal, at a phone's width: headless Chromium (Debian's `chromium`,
driven by Playwright as in tests/test_console_browser.py) against `coalition members serve` in a subprocess on the
test database. Ann signs in with the code from the mail outbox, sees her balance, sends points to Bob; Bob signs
in and finds the transfer in his history.

Chromium missing is a failure with a message, never a skip."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

from browser_helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, require_chromium, serving
from console.settings import ConsoleSettings
from network.core.accounts import PersonalData
from network.mail import mailer_from_settings, read_outbox
from network.ports import free_port
from network.store.accounts import build_accounts

SCREENSHOT = ROOT / "artifacts" / "portal-history.png"
PHONE = {"width": 390, "height": 844}


def serving_portal(database_url: str, data_dir: Path, port: int):
    return serving([sys.executable, "-m", "coalition.cli", "members", "serve"], database_url, data_dir, port,
                   {"COALITION_SMTP_HOST": ""})


def test_phone_walk_sign_in_balance_transfer_and_the_other_members_history(make_partner, engine, database_url,
                                                                           tmp_path, verified_ledger):
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    settings = ConsoleSettings(data_dir=tmp_path, database_url=database_url, smtp_host="")
    accounts = build_accounts(engine, settings, mailer_from_settings(settings))
    bakery = make_partner("walk", name="Walk Bakery")
    emails = {}
    with bakery.client() as client:
        for name, points in (("Ann", 1200), ("Bob", 0)):
            enrolled = client.enroll_member()
            if points:
                client.earn(enrolled.member.member_id, points=points, store_id="station-road")
            emails[name] = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
            accounts.sign_up(enrolled.member.card_number, enrolled.activation_code, PersonalData(emails[name], name))
    outbox = settings.resolved_mail_outbox_dir()

    def sign_in(page, email: str) -> None:
        page.get_by_role("textbox", name="E-mail").fill(email)
        page.get_by_role("button", name="Send me a code").click()
        expect(page.get_by_text("a code is on its way")).to_be_visible()
        mail = next(m for m in read_outbox(outbox) if m.to == email)
        page.get_by_role("textbox", name="Code").fill(re.search(r"\b(\d{6})\b", mail.body).group(1))
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Your points")).to_be_visible()

    def open_page(page, title: str) -> None:
        page.get_by_test_id("stExpandSidebarButton").click()  # a phone: the navigation sits in the folded sidebar
        page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
        expect(page.get_by_test_id("stSidebar")).to_be_visible()
        if page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "false":  # still covering the page
            page.get_by_test_id("stSidebarCollapseButton").locator("button").click()

    with serving_portal(database_url, tmp_path, free_port()) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ann = browser.new_context(viewport=PHONE).new_page()
            ann.set_default_timeout(30_000)
            ann.goto(url)
            sign_in(ann, emails["Ann"])
            expect(ann.get_by_test_id("stMetric").filter(has_text="Available")).to_contain_text("1,200")
            open_page(ann, "Transfer")
            ann.get_by_role("textbox", name="To (card number or e-mail)").fill(emails["Bob"])
            points = ann.get_by_role("spinbutton", name="Points")
            points.fill("400")
            ann.get_by_role("button", name="Send").click()
            expect(ann.get_by_text("Sent 400 points.")).to_be_visible()

            bob = browser.new_context(viewport=PHONE).new_page()
            bob.set_default_timeout(30_000)
            bob.goto(url)
            sign_in(bob, emails["Bob"])
            expect(bob.get_by_test_id("stMetric").filter(has_text="Available")).to_contain_text("400")
            open_page(bob, "History")
            table = bob.locator('[data-testid="stDataFrame"]').first
            expect(table).to_be_visible()
            expect(table).to_contain_text("transfer")
            bob.wait_for_timeout(500)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            bob.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 5_000
