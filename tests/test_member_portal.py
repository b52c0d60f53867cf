"""The member portal's pages under streamlit.testing.v1.AppTest against the real PostgreSQL of the fixtures: sign
in by the code written to the mail outbox, then every page shows the ledger's numbers and every action reaches
the domain (PIN, one-time code, freeze, replace, transfer, donate, export, closing the account)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from console.money import format_points
from console.settings import get_settings
from network import admin
from network.core.accounts import PersonalData
from network.mail import mailer_from_settings, read_outbox
from network.settings import from_environment
from network.store import credentials
from network.store.accounts import build_accounts
from network.store.ledger import build_ledger
from test_console_pages import metric, page

APP = Path(__file__).resolve().parents[1] / "console" / "portal" / "app.py"
CONSOLE_APP = Path(__file__).resolve().parents[1] / "console" / "app.py"


@pytest.fixture
def portal_env(monkeypatch, database_url: str, tmp_path):
    """The portal process reads its database, data dir (master key, outbox) from the environment."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COALITION_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COALITION_SMTP_HOST", "")
    from_environment.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield get_settings()
    from_environment.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


class Member:
    def __init__(self, email: str, member_id: str, card_number: str):
        self.email, self.member_id, self.card_number = email, member_id, card_number


@pytest.fixture
def members(portal_env, engine, make_partner):
    """Two members with accounts: ann (1,000 points at coffee, store main-st), bob (no points)."""
    coffee = make_partner(name="Coffee Corner")
    accounts = build_accounts(engine, portal_env, mailer_from_settings(portal_env))
    made = []
    with coffee.client() as client:
        for name, points in (("Ann", 1000), ("Bob", 0)):
            enrolled = client.enroll_member()
            if points:
                client.earn(enrolled.member.member_id, points=points, store_id="main-st")
            email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
            accounts.sign_up(enrolled.member.card_number, enrolled.activation_code, PersonalData(email, name))
            made.append(Member(email, enrolled.member.member_id, enrolled.member.card_number))
    return coffee, made[0], made[1]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def signed_in(settings, email: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert [t.value for t in at.title] == ["Sign in"]
    at.text_input(key="signin_email").input(email)
    button(at, "Send me a code").click()
    at.run()
    mail = next(m for m in read_outbox(settings.resolved_mail_outbox_dir()) if m.to == email)
    at.text_input(key="signin_code").input(re.search(r"\b(\d{6})\b", mail.body).group(1))
    button(at, "Sign in").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sign_in_needs_the_right_code(portal_env, members):
    _, ann, _ = members
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    with pytest.raises(ValueError):  # no member page before sign-in
        at.switch_page("pages/balance.py")
    at.text_input(key="signin_email").input(ann.email)
    button(at, "Send me a code").click()
    at.run()
    at.text_input(key="signin_code").input("000000" if "000000" not in read_outbox(
        portal_env.resolved_mail_outbox_dir())[0].body else "111111")
    button(at, "Sign in").click()
    at.run()
    assert [e.value for e in at.error] == ["that code is wrong"]
    assert "member_token" not in at.session_state


def test_activate_page_makes_an_account(portal_env, make_partner, engine):
    partner = make_partner()
    with partner.client() as client:
        enrolled = client.enroll_member()
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    at = page(AppTest.from_file(str(APP), default_timeout=60).run(), "activate")
    at.text_input(key="activate_card").input(enrolled.member.card_number)
    at.text_input(key="activate_code").input("AAAA-BBBB-CCCC")
    at.text_input(key="activate_email").input(email)
    at.text_input(key="activate_name").input("Cleo")
    button(at, "Activate").click()
    at.run()
    assert [e.value for e in at.error] == ["that card number and activation code do not match"]
    at.text_input(key="activate_code").input(enrolled.activation_code)
    at.checkbox(key="activate_marketing").check()
    button(at, "Activate").click()
    at.run()
    assert [s.value for s in at.success] == ["Your account is ready: sign in with your e-mail address."]
    accounts = build_accounts(engine, portal_env, mailer_from_settings(portal_env))
    view = accounts.account(accounts.account_of_member(enrolled.member.member_id))
    assert view.personal.email == email and view.personal.name == "Cleo" and view.consents.marketing
    at = signed_in(portal_env, email)
    assert metric(at, "Available") == format_points(0)


def test_balance_history_and_where_to_spend(portal_env, members, engine):
    coffee, ann, _ = members
    at = signed_in(portal_env, ann.email)
    assert metric(at, "Available") == format_points(1000)  # the default page: balance
    assert metric(at, "Pending") == format_points(0) and metric(at, "Held") == format_points(0)
    page(at, "history")
    [history] = [d.value for d in at.dataframe]
    assert list(history["partner"]) == ["Coffee Corner"] and list(history["store"]) == ["main-st"]
    assert list(history["points"]) == [1000]
    page(at, "spend")
    assert "Coffee Corner" in set(next(d.value for d in at.dataframe)["partner"])


def test_security_pin_code_freeze_and_replace(portal_env, members, engine):
    _, ann, _ = members
    at = page(signed_in(portal_env, ann.email), "security")
    at.text_input(key="pin_new").input("2580")
    at.text_input(key="pin_again").input("2580")
    button(at, "Set PIN").click()
    at.run()
    assert "Your PIN is set." in [s.value for s in at.success]
    with engine.connect() as conn:
        assert credentials.member_security(conn, ann.member_id).pin_set
    at.number_input(key="code_ceiling").set_value(300)
    button(at, "Get a code").click()
    at.run()
    assert any(re.search(r"Your code: \*\*\d{10}\*\*", s.value) for s in at.success)
    at.button(key=f"freeze_{ann.card_number}").click()
    at.run()
    with engine.connect() as conn:
        assert [c.status for c in credentials.member_security(conn, ann.member_id).cards] == ["frozen"]
    at.button(key=f"unfreeze_{ann.card_number}").click()
    at.run()
    at.checkbox(key=f"lost_{ann.card_number}").check()
    at.run()
    at.button(key=f"replace_{ann.card_number}").click()
    at.run()
    assert not at.exception
    with engine.connect() as conn:
        cards = credentials.member_security(conn, ann.member_id).cards
    assert sorted(c.status for c in cards) == ["active", "replaced"]
    new = next(c.card_number for c in cards if c.status == "active")
    assert any(new in s.value for s in at.success)


def test_transfer_donate_and_notifications(portal_env, members, engine, make_partner):
    _, ann, bob = members
    charity = make_partner(name="Food Bank")
    with engine.begin() as conn:
        admin.set_charity(conn, "test", charity.partner_id)
    at = page(signed_in(portal_env, ann.email), "transfer")
    at.text_input(key="transfer_to").input(bob.email)  # by e-mail
    at.number_input(key="transfer_points").set_value(300)
    button(at, "Send").click()
    at.run()
    assert "Sent 300 points." in [s.value for s in at.success]
    page(at, "donate")
    at.selectbox(key="donate_charity").select("Food Bank")
    at.number_input(key="donate_points").set_value(200)
    button(at, "Donate").click()
    at.run()
    assert "Thank you: 200 points to Food Bank." in [s.value for s in at.success]
    page(at, "balance")
    assert metric(at, "Available") == format_points(500)
    page(at, "notifications")
    assert len(next(d.value for d in at.dataframe)) == 2
    bob_at = signed_in(portal_env, bob.email)
    assert metric(bob_at, "Available") == format_points(300)
    page(bob_at, "history")
    bob_history = next(d.value for d in bob_at.dataframe)
    assert list(bob_history["kind"]) == ["transfer"] and list(bob_history["partner"]) == ["another member"]


def test_my_data_export_consents_and_closing(portal_env, members, engine):
    _, ann, _ = members
    at = page(signed_in(portal_env, ann.email), "my_data")
    [download] = at.get("download_button")
    assert download.proto.label == "Download my data (JSON)"
    assert any(ann.email in m.value for m in at.markdown)
    at.checkbox(key="consent_marketing").check()
    button(at, "Save").click()
    at.run()
    accounts = build_accounts(engine, portal_env, mailer_from_settings(portal_env))
    account_id = accounts.account_of_member(ann.member_id)
    assert accounts.account(account_id).consents.marketing is True
    at.checkbox(key="close_sure").check()
    at.run()
    at.button(key="close_account").click()
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    with engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM member_accounts WHERE account_id = :a"),
                             {"a": uuid.UUID(account_id)}).scalar_one()
        available = conn.execute(text("SELECT coalesce(sum(remaining), 0) FROM lots WHERE member_id = :m"),
                                 {"m": uuid.UUID(ann.member_id)}).scalar_one()
    assert state == "erased" and available == 0


def test_console_mail_outbox_page_shows_the_codes(portal_env, members, monkeypatch):
    from console import auth

    _, ann, _ = members
    signed_in(portal_env, ann.email)  # writes a login code to the outbox
    monkeypatch.setenv("COALITION_CONSOLE_ADMIN_USER", "ops")
    monkeypatch.setenv("COALITION_CONSOLE_ADMIN_PASSWORD_HASH", auth.hash_password("ops-secret-1"))
    from_environment.cache_clear()
    at = AppTest.from_file(str(CONSOLE_APP), default_timeout=60).run()
    at.text_input(key="login_user").input("ops")
    at.text_input(key="login_password").input("ops-secret-1")
    at.button[0].click()
    at.run()
    page(at, "mail_outbox")
    assert [t.value for t in at.title] == ["Mail outbox"]
    labels = [e.label for e in at.expander]
    assert any(ann.email in label and "login code" in label for label in labels)


def test_balance_shows_expiring_points_by_issuer_and_the_tier(portal_env, members, make_partner, engine):
    """Points expiring within 30 days under their issuer's policy are listed by issuer and date (20 days: listed;
    40 days: not); the card's tier and what the next one needs are shown."""
    _, ann, _ = members
    soon, later = make_partner(name="Tea House", expiry_days=20), make_partner(name="Book Nook", expiry_days=40)
    with soon.client() as client:
        client.enroll_member(card_number=ann.card_number)
        client.earn(ann.member_id, points=200)
    with later.client() as client:  # a purchase: its points qualify for the tier
        client.enroll_member(card_number=ann.card_number)
        assert client.earn(ann.member_id, amount_minor=30_000).points == 300
    at = signed_in(portal_env, ann.email)
    assert metric(at, "Expiring soon") == format_points(200)
    [expiring] = [d.value for d in at.dataframe if list(d.value.columns) == ["expires", "issued by", "points"]]
    assert expiring[["issued by", "points"]].values.tolist() == [["Tea House", 200]]
    [tier] = [m.value for m in at.markdown if m.value.startswith("Tier **")]
    with engine.connect() as conn:
        progress = build_ledger(engine, portal_env).tier_progress(conn, ann.member_id)
    assert progress.tier and progress.qualifying_points == 300
    assert tier.startswith(f"Tier **{progress.tier}** · {format_points(progress.qualifying_points)} qualifying")
    if progress.next_tier:
        assert f"{format_points(progress.points_to_next)} more for {progress.next_tier}" in tier


def test_every_portal_page_has_an_apptest_here():
    """A page added to console/portal/pages without a test visiting it here fails (sign_in is the app's page before
    signing in, balance its first page after: both visited by signed_in)."""
    source = Path(__file__).read_text(encoding="utf-8")
    visited = set(re.findall(r'\bpage\(.*, "([a-z_]+)"\)$', source, re.MULTILINE)) | {"sign_in", "balance"}
    pages = {p.stem for p in (APP.parent / "pages").glob("*.py") if p.stem != "__init__"}
    assert pages and pages <= visited, sorted(pages - visited)


def test_a_transfer_to_a_frozen_card_is_refused_in_the_portal(portal_env, members, engine):
    """The sender sees why (neutral about the other member), and nothing moves; once unfrozen the same works."""
    _, ann, bob = members
    with engine.begin() as conn:
        credentials.freeze_card(conn, bob.card_number, "member", "lost it")
    at = page(signed_in(portal_env, ann.email), "transfer")
    for to, shown in ((bob.card_number, f"CARD_FROZEN: card {bob.card_number} is frozen"),
                      (bob.email, "CARD_FROZEN: the recipient cannot receive points at the moment")):
        at.text_input(key="transfer_to").input(to)
        at.number_input(key="transfer_points").set_value(100)
        button(at, "Send").click()
        at.run()
        assert any(e.value.startswith(shown) for e in at.error), [e.value for e in at.error]
    page(at, "balance")
    assert metric(at, "Available") == format_points(1000)
    with engine.begin() as conn:
        credentials.unfreeze_card(conn, bob.card_number, "member")
    page(at, "transfer")
    at.text_input(key="transfer_to").input(bob.card_number)
    at.number_input(key="transfer_points").set_value(100)
    button(at, "Send").click()
    at.run()
    assert "Sent 100 points." in [s.value for s in at.success]
