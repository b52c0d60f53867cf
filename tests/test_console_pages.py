"""The console's pages under streamlit.testing.v1.AppTest against the real PostgreSQL of the fixtures, with known
data created through the signed partner SDK (make_partner) and a settlement cycle run through settlement's own
functions: the numbers shown equal the ledger's, a viewer cannot act, an admin's action reaches the domain."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine, text
from streamlit.testing.v1 import AppTest

from console import actions, auth
from console import data as console_data
from console.auth import NotAllowed, Operator
from console.money import format_money, format_points
from network.core.ledger import money_for_points
from network.store.verify import CHECKS as LEDGER_CHECKS
from console.settings import get_settings
from network.settings import from_environment
from settlement import cycles, responses

APP = Path(__file__).resolve().parents[1] / "console" / "app.py"
ADMIN, ADMIN_PASSWORD = "ops-admin", "admin-secret-1"
VIEWER, VIEWER_PASSWORD = "ops-viewer", "viewer-secret-1"
POINT_VALUE = Decimal("1")  # Settings default: 1 point = 1 minor unit


@pytest.fixture(scope="module")
def password_hashes() -> tuple[str, str]:
    return auth.hash_password(ADMIN_PASSWORD), auth.hash_password(VIEWER_PASSWORD)


@pytest.fixture
def console_env(monkeypatch, database_url: str, password_hashes, tmp_path) -> None:
    """The console process reads its database and accounts from the environment, as `coalition console serve` does."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COALITION_CONSOLE_ADMIN_USER", ADMIN)
    monkeypatch.setenv("COALITION_CONSOLE_ADMIN_PASSWORD_HASH", password_hashes[0])
    monkeypatch.setenv("COALITION_CONSOLE_VIEWER_USER", VIEWER)
    monkeypatch.setenv("COALITION_CONSOLE_VIEWER_PASSWORD_HASH", password_hashes[1])
    monkeypatch.setenv("COALITION_TEMPORAL_ADDRESS", "")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # nothing there: dispute resolution falls back to the DB
    monkeypatch.setenv("COALITION_DATA_DIR", str(tmp_path))
    from_environment.cache_clear()
    st.cache_data.clear()
    yield
    from_environment.cache_clear()
    st.cache_data.clear()


@dataclass
class Known:
    coffee: str
    air: str
    spare: str
    member_id: str
    card_number: str
    cycle_id: str  # payments planned, no dispute
    open_cycle_id: str  # the newest cycle: statements out, air's dispute open
    dispute_id: str


def _settle(engine: Engine, signer, start: datetime, end: datetime) -> str:
    """Cut off, clear, net and state a cycle over [start, end) through settlement's own functions (no Temporal)."""
    cycle_id = cycles.cycle_id_for(start)
    with engine.begin() as conn:
        cycles.open_cycle(conn, cycle_id, start, end, cycle_id, "EUR")
        cycles.cut_off(conn, cycle_id)
        cycles.clear(conn, cycle_id, POINT_VALUE)
        cycles.net_cycle(conn, cycle_id)
        cycles.issue_statements(conn, cycle_id, datetime.now(timezone.utc) + timedelta(hours=1), signer)
    return cycle_id


def _after(moment: datetime) -> None:
    while datetime.now(timezone.utc) <= moment:
        time.sleep(0.05)


@pytest.fixture
def known(make_partner, engine: Engine, network_signer, verified_ledger) -> Known:
    """Built for each test that asks (tests act on it: one resolves the dispute, one suspends a partner; and the
    partners page shows the newest netted cycle, which must be this data's), so no test depends on another's order.
    Cycle 1: coffee issues 1000 points to a member, air 500 to another; air redeems 100 of coffee's points, coffee
    50 of air's, air 20 of its own; cleared, netted, stated and its payments planned. Cycle 2: coffee redeems 10
    more of air's points; stated, and air disputes its statement (left open: no payment planning, so nothing is
    carried into other tests' cycles)."""
    with engine.connect() as conn:
        last_end = conn.execute(text("SELECT max(period_end) FROM cycles")).scalar_one()
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    if last_end is not None and last_end > start:
        # cycle ids have second resolution: start on the whole second after the latest cycle's end, so this data's
        # cycles never take the id of the one before (an earlier test's)
        start = last_end.replace(microsecond=0) + timedelta(seconds=1)
        _after(start)
    coffee = make_partner("coffee", name="Coffee Corner", credit_limit_minor=1000, collateral_minor=100)
    air = make_partner("air", name="Air Lines", clearing_fee_bps=100)
    spare = make_partner("spare", name="Spare Shop")
    with coffee.client() as c, air.client() as a:
        member = c.enroll_member(customer_ref="m-1").member
        c.earn(member.member_id, points=1000, receipt_ref="latte")
        a.enroll_member(card_number=member.card_number)
        a.redeem(member.member_id, 100, receipt_ref="ticket")
        flyer = a.enroll_member(customer_ref="m-2").member
        a.earn(flyer.member_id, points=500)
        c.enroll_member(card_number=flyer.card_number)
        c.redeem(flyer.member_id, 50)
        a.redeem(flyer.member_id, 20)
        # cycle ids have second resolution: the second cycle starts in a later second than the first
        middle = max(datetime.now(timezone.utc) + timedelta(milliseconds=100),
                     start.replace(microsecond=0) + timedelta(seconds=1))
        _after(middle)
        c.redeem(flyer.member_id, 10)
    end = datetime.now(timezone.utc) + timedelta(milliseconds=100)
    _after(end)
    cycle_id = _settle(engine, network_signer, start, middle)
    with engine.begin() as conn:
        cycles.close_dispute_window(conn, cycle_id)
        cycles.plan_payments(conn, cycle_id)
    open_cycle_id = _settle(engine, network_signer, middle, end)
    with engine.begin() as conn:
        statement_id = conn.execute(text("SELECT statement_id FROM statements WHERE cycle_id = :c AND partner_id = :p"),
                                    {"c": open_cycle_id, "p": air.partner_id}).scalar_one()
        view = responses.dispute_statement(conn, air.partner_id, statement_id, [1], 0, "not our customer")
    return Known(coffee.partner_id, air.partner_id, spare.partner_id, member.member_id, member.card_number,
                 cycle_id, open_cycle_id, view.dispute_id)


def logged_in(user: str, password: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def table(at: AppTest, column: str):
    """The first table shown with this column (st.dataframe is not a widget: AppTest finds it by content)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def rows_by(frame, column: str) -> dict:
    return {row[column]: row for _, row in frame.iterrows()}


# --- access -----------------------------------------------------------------------------------------------------

def test_login_is_required_and_a_wrong_password_is_refused(console_env):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert [t.value for t in at.title] == ["Coalition console"]
    assert not at.metric and not at.dataframe
    at.text_input(key="login_user").input(ADMIN)
    at.text_input(key="login_password").input("wrong")
    at.button[0].click()
    at.run()
    assert [e.value for e in at.error] == ["Unknown operator or wrong password."]
    assert "operator" not in at.session_state
    with pytest.raises(ValueError):  # no page is registered before login
        at.switch_page("pages/partners.py")


# --- the numbers ----------------------------------------------------------------------------------------------------

def test_overview_shows_the_ledgers_totals(console_env, known, engine):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "overview")
    with engine.connect() as conn:
        outstanding = conn.execute(text(  # journal-derived, the way `ledger verify` computes it
            "SELECT -sum(points) FROM postings WHERE account IN ('issuer', 'redeemer', 'breakage')")).scalar_one()
        members = conn.execute(text("SELECT count(*) FROM members")).scalar_one()
    assert metric(at, "Total liability") == format_money(money_for_points(int(outstanding), POINT_VALUE), "EUR")
    assert metric(at, "Points outstanding") == format_points(int(outstanding))
    assert metric(at, "Members") == format_points(members)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "the flows chart is shown"


def test_partners_table_equals_the_ledger_and_settlement(console_env, known, engine):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "partners")
    shown = rows_by(table(at, "outstanding points"), "partner")
    coffee, air = shown[known.coffee], shown[known.air]
    # coffee issued 1000, 100 spent at air: 900 outstanding = EUR 9.00; exposure 9.00 - 1.00 collateral of 10.00
    assert (coffee["issued"], coffee["redeemed"], coffee["outstanding points"]) == (1000, 60, 900)
    assert coffee["liability"] == Decimal("9.00") and coffee["collateral"] == Decimal("1.00")
    assert coffee["exposure"] == Decimal("8.00") and coffee["exposure %"] == Decimal("80.0")
    assert (air["issued"], air["redeemed"], air["outstanding points"]) == (500, 120, 420)
    assert air["liability"] == Decimal("4.20") and air["credit limit"] is None
    with engine.connect() as conn:
        for partner_id, row in ((known.coffee, coffee), (known.air, air)):
            lots = conn.execute(text("SELECT sum(remaining + held) FROM lots WHERE issuer_id = :p "
                                     "AND state IN ('pending', 'active')"), {"p": partner_id}).scalar_one()
            assert row["liability"] == Decimal(money_for_points(int(lots), POINT_VALUE)) / 100
            net = conn.execute(text("SELECT net_minor FROM net_positions WHERE cycle_id = :c AND partner_id = :p"),
                               {"c": known.open_cycle_id, "p": partner_id}).scalar_one()
            assert row["net position"] == Decimal(net) / 100
    # the current (newest netted) cycle: air owes coffee the 10 of its points coffee accepted, coffee charges no fee
    assert coffee["net position"] == Decimal("0.10") and air["net position"] == Decimal("-0.10")
    assert any(f"cycle {known.open_cycle_id}" in c.value for c in at.caption)


def test_find_partners_keeps_the_matching_rows_and_the_networks_figures(console_env, known):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "partners")
    everyone = table(at, "outstanding points")
    liabilities = metric(at, "Liabilities")
    at.text_input(key="partner_filter").input(f"  {known.coffee.upper()} ").run()  # trimmed, any case
    assert list(table(at, "outstanding points")["partner"]) == [known.coffee]
    assert metric(at, "Liabilities") == liabilities and metric(at, "Partners") == str(len(everyone))
    assert any(f"1 of {len(everyone)} partners" in c.value for c in at.caption)
    name = everyone.set_index("partner").loc[known.air, "name"]
    at.text_input(key="partner_filter").input(name[1:-1]).run()  # part of a name, not of an id
    assert known.air in set(table(at, "outstanding points")["partner"])
    at.text_input(key="partner_filter").input("no such partner (").run()  # plain text, not a pattern
    assert table(at, "outstanding points").empty
    at.text_input(key="partner_filter").input("").run()
    assert len(table(at, "outstanding points")) == len(everyone)


def test_near_limit_partners_are_highlighted(console_env, known):
    from network.store import read_models

    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "partners")
    assert any("Near the credit limit" in m.label for m in at.metric)
    with console_data.engine().connect() as conn:
        near = {p.partner_id for p in read_models.partner_positions(conn, POINT_VALUE, datetime.now(timezone.utc))
                if p.near_limit}
    assert known.coffee in near and known.air not in near


def test_clearing_matrix_cells_equal_the_ledger_and_the_cycle(console_env, known, engine):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "clearing")
    cells = {(r["issuer"], r["redeemer"]): (r["points"], r["amount"])
             for _, r in table(at, "amount").iterrows()}
    assert cells[(known.coffee, known.air)] == (100, Decimal("1.00"))
    assert cells[(known.air, known.coffee)] == (60, Decimal("0.60"))
    assert cells[(known.air, known.air)] == (20, Decimal("0.20"))
    at.radio(key="clearing_source").set_value("Settlement cycle").run()
    at.selectbox(key="clearing_cycle").set_value(known.cycle_id).run()
    assert not at.exception
    shown = {(r["issuer"], r["redeemer"]): (r["points"], r["amount"])
             for _, r in table(at, "amount").iterrows()}
    with engine.connect() as conn:
        stored = {(r.issuer_id, r.redeemer_id): (int(r.points), Decimal(r.amount_minor) / 100) for r in conn.execute(
            text("SELECT * FROM clearing_matrix WHERE cycle_id = :c"), {"c": known.cycle_id})}
    assert shown == stored
    assert shown[(known.coffee, known.air)] == (100, Decimal("1.00"))


def test_members_page_finds_by_card_and_shows_lots_and_history(console_env, known):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "members")
    at.text_input(key="member_query").input(known.card_number).run()
    assert not at.exception
    assert metric(at, "Available") == "900"
    lots = table(at, "remaining")
    assert lots[["issuer_id", "points", "remaining"]].values.tolist() == [[known.coffee, 1000, 900]]
    history = table(at, "kind")
    assert sorted(zip(history["kind"], history["partner_id"])) == sorted([("earn", known.coffee),
                                                                          ("redeem", known.air)])
    at.text_input(key="member_query").input(known.member_id).run()
    assert metric(at, "Available") == "900"


def test_settlement_page_shows_cycle_statements_disputes_and_payments(console_env, known, engine):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "settlement")
    at.selectbox(key="settlement_cycle").set_value(known.cycle_id).run()
    assert not at.exception
    cycle_row = rows_by(table(at, "workflow"), "cycle_id")[known.cycle_id]
    assert cycle_row["state"] == "payments_planned"
    assert cycle_row["workflow"].endswith(f"/namespaces/default/workflows/{known.cycle_id}")
    positions = rows_by(table(at, "carried_in"), "partner_id")
    assert positions[known.coffee]["net"] == Decimal("-0.50") and positions[known.air]["net"] == Decimal("0.49")
    statements = rows_by(table(at, "receivable"), "partner_id")
    assert (statements[known.coffee]["net"], statements[known.air]["net"]) == (Decimal("-0.50"), Decimal("0.49"))
    payments = rows_by(table(at, "direction"), "partner_id")
    with engine.connect() as conn:
        stored = {r.partner_id: (r.direction, Decimal(r.amount_minor) / 100, r.state) for r in conn.execute(
            text("SELECT * FROM payment_instructions WHERE cycle_id = :c"), {"c": known.cycle_id})}
    assert {p: (r["direction"], r["amount"], r["state"]) for p, r in payments.items()} == stored
    assert stored[known.coffee][:2] == ("collection", Decimal("0.50"))
    assert stored[known.air][:2] == ("payout", Decimal("0.49"))
    at.selectbox(key="settlement_cycle").set_value(known.open_cycle_id).run()
    disputes = rows_by(table(at, "reason"), "dispute_id")
    assert disputes[known.dispute_id]["state"] == "open" and disputes[known.dispute_id]["partner_id"] == known.air
    assert rows_by(table(at, "receivable"), "partner_id")[known.air]["state"] == "disputed"
    assert not at.get("form"), "a viewer gets no forms (no start-cycle, no resolve)"


def test_ledger_health_verifies_on_demand(console_env, known):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "ledger_health")
    assert not at.dataframe
    at.button(key="verify").click().run()
    assert not at.exception
    checks = table(at, "check")
    assert checks["ok"].all() and len(checks) == len(LEDGER_CHECKS) + 1 == 18  # and the hash chain
    assert any("Hash chain" in s.value for s in at.success)


# --- acting -----------------------------------------------------------------------------------------------------------

def test_viewer_sees_no_actions_and_the_action_functions_refuse(console_env, known, engine):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "partners")
    at.selectbox(key="partner_id").set_value(known.spare).run()
    keys = {b.key for b in at.button}
    assert not keys & {"suspend", "resume", "revoke"} and not at.get("form")
    viewer = Operator(VIEWER, auth.VIEWER)
    with pytest.raises(NotAllowed):
        actions.set_partner_status(engine, viewer, known.spare, "suspended")
    with pytest.raises(NotAllowed):
        actions.resolve_dispute(engine, get_settings(), viewer, known.dispute_id, "statement_stands")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM partners WHERE partner_id = :p"),
                            {"p": known.spare}).scalar_one() == "active"
        assert not conn.execute(text("SELECT 1 FROM operator_actions WHERE operator = :o"), {"o": VIEWER}).first()


def test_admin_suspends_and_resumes_a_partner_from_the_partners_page(console_env, known, engine):
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "partners")
    at.selectbox(key="partner_id").set_value(known.spare).run()
    at.button(key="suspend").click().run()
    assert not at.exception
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM partners WHERE partner_id = :p"),
                            {"p": known.spare}).scalar_one() == "suspended"
        recorded = conn.execute(text("SELECT operator, action FROM operator_actions WHERE subject = :p "
                                     "ORDER BY action_id DESC LIMIT 1"), {"p": known.spare}).one()
    assert tuple(recorded) == (ADMIN, "partner.suspend")
    assert rows_by(table(at, "outstanding points"), "partner")[known.spare]["status"] == "suspended"
    at.button(key="resume").click().run()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM partners WHERE partner_id = :p"),
                            {"p": known.spare}).scalar_one() == "active"
    audit = table(page(at, "audit"), "action")
    assert [tuple(r) for r in audit[audit["subject"] == known.spare][["operator", "action"]].values[:2]] == [
        (ADMIN, "partner.resume"), (ADMIN, "partner.suspend")]


def test_admin_resolves_a_dispute_from_the_settlement_page(console_env, known, engine):
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "settlement")
    at.selectbox(key="settlement_cycle").set_value(known.open_cycle_id).run()
    at.selectbox(key="dispute_id").set_value(known.dispute_id).run()
    at.radio(key="dispute_outcome").set_value("statement_stands")
    at.text_input(key="dispute_note").input("checked the fee schedule")
    next(b for b in at.button if b.label == "Resolve dispute").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    with engine.connect() as conn:
        dispute = conn.execute(text("SELECT state, outcome, resolved_by FROM disputes WHERE dispute_id = :d"),
                               {"d": known.dispute_id}).one()
        recorded = conn.execute(text("SELECT operator FROM operator_actions WHERE action = 'dispute.resolve' "
                                     "AND detail->>'dispute_id' = :d"), {"d": known.dispute_id}).scalar_one()
    assert tuple(dispute) == ("resolved", "statement_stands", ADMIN) and recorded == ADMIN
    assert any(known.dispute_id in s.value for s in at.success)


def test_admin_sees_the_actions_a_viewer_does_not(console_env, known):
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "partners")
    at.selectbox(key="partner_id").set_value(known.coffee).run()
    assert {"suspend", "revoke"} <= {b.key for b in at.button} and at.get("form")
    at = page(at, "settlement")
    assert at.get("form"), "the start-cycle form"
    assert any(b.label == "Start cycle" for b in at.button)


def test_start_cycle_by_hand_reaches_temporal_and_is_recorded(console_env, engine, monkeypatch):
    """A real Temporal dev server (no worker needed: the workflow is started, not run)."""
    import asyncio

    from settlement.temporal_runtime import start_dev_server

    with engine.connect() as conn:
        before = conn.execute(text("SELECT coalesce(max(action_id), 0) FROM operator_actions")).scalar_one()
    loop = asyncio.new_event_loop()
    environment = loop.run_until_complete(start_dev_server())
    try:
        target = environment.client.service_client.config.target_host
        monkeypatch.setenv("TEMPORAL_ADDRESS", target)
        from_environment.cache_clear()
        settings = get_settings()
        start = datetime(2001, 1, 1, tzinfo=timezone.utc)
        with pytest.raises(NotAllowed):
            actions.start_cycle(engine, settings, Operator(VIEWER, auth.VIEWER), start, start + timedelta(days=1))
        workflow_id = actions.start_cycle(engine, settings, Operator(ADMIN, auth.ADMIN), start,
                                          start + timedelta(days=1))
        assert workflow_id == cycles.cycle_id_for(start) == "cyc-20010101-0000"
        description = loop.run_until_complete(environment.client.get_workflow_handle(workflow_id).describe())
        assert description.workflow_type == "SettlementCycleWorkflow"
        loop.run_until_complete(environment.client.get_workflow_handle(workflow_id).terminate("test done"))
    finally:
        loop.run_until_complete(environment.shutdown())
        loop.close()
    with engine.connect() as conn:
        recorded = conn.execute(text("SELECT operator, action FROM operator_actions WHERE subject = :c "
                                     "AND action_id > :b"), {"c": workflow_id, "b": before}).all()
    assert [tuple(r) for r in recorded] == [(ADMIN, "cycle.start")]


def test_start_cycle_without_temporal_fails_clearly_and_records_nothing(console_env, engine):
    with engine.connect() as conn:
        before = conn.execute(text("SELECT coalesce(max(action_id), 0) FROM operator_actions")).scalar_one()
    start = datetime(2001, 2, 1, tzinfo=timezone.utc)
    with pytest.raises((RuntimeError, OSError, TimeoutError)):
        actions.start_cycle(engine, get_settings(), Operator(ADMIN, auth.ADMIN), start, start + timedelta(days=1))
    with engine.connect() as conn:
        assert not conn.execute(text("SELECT 1 FROM operator_actions WHERE action_id > :b"), {"b": before}).first()


def test_without_database_url_the_console_attaches_the_embedded_postgres(monkeypatch, tmp_path):
    """DATABASE_URL unset: the console starts or attaches PostgreSQL in data_dir/postgres, like network.runtime;
    the embedded default admin password works there (and only there)."""
    from network.database import EmbeddedPostgres, migrate

    embedded = EmbeddedPostgres(tmp_path / "postgres", cleanup_mode="delete")
    try:
        migrate(embedded.url)
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("COALITION_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("COALITION_CONSOLE_ADMIN_PASSWORD_HASH", "")
        monkeypatch.setenv("COALITION_CONSOLE_ADMIN_USER", "operator")
        from_environment.cache_clear()
        st.cache_data.clear()
        at = page(logged_in("operator", auth.EMBEDDED_DEFAULT_PASSWORD), "overview")
        assert metric(at, "Members") == "0" and metric(at, "Total liability") == "EUR 0.00"
    finally:
        from_environment.cache_clear()
        st.cache_data.clear()
        st.cache_resource.clear()  # the console's engine on this server
        embedded.stop()


def test_admin_freezes_a_member_and_a_card_from_the_members_page(console_env, known, engine):
    at = page(logged_in(ADMIN, ADMIN_PASSWORD), "members")
    at.text_input(key="member_query").input(known.member_id).run()
    assert not at.exception and metric(at, "Spending") == "allowed"
    at.text_input(key="freeze_reason").input("chargeback").run()
    at.button(key="freeze_member").click().run()
    assert not at.exception and metric(at, "Spending") == "frozen"
    at.button(key="unfreeze_member").click().run()
    at.selectbox(key="member_card").set_value(known.card_number).run()
    at.button(key="freeze_card").click().run()
    assert table(at, "status").set_index("card_number").loc[known.card_number, "status"] == "frozen"
    at.button(key="unfreeze_card").click().run()
    assert not at.exception
    at.button(key="replace_card").click().run()  # the lost card still finds the member, marked replaced
    at.text_input(key="member_query").input(known.card_number).run()
    cards = table(at, "status").set_index("card_number")["status"].to_dict()
    assert cards[known.card_number] == "replaced" and sorted(cards.values()) == ["active", "replaced"]
    with engine.connect() as conn:
        recorded = [tuple(r) for r in conn.execute(text(
            "SELECT operator, action FROM operator_actions WHERE subject IN (:m, :c) ORDER BY action_id"),
            {"m": known.member_id, "c": known.card_number})]
        frozen = conn.execute(text("SELECT frozen_at FROM members WHERE member_id = :m"),
                              {"m": known.member_id}).scalar_one()
    assert recorded == [(ADMIN, "member.freeze"), (ADMIN, "member.unfreeze"), (ADMIN, "card.freeze"),
                        (ADMIN, "card.unfreeze"), (ADMIN, "card.replace")]
    assert frozen is None


def test_a_viewer_sees_the_members_security_but_no_freeze_buttons(console_env, known):
    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "members")
    at.text_input(key="member_query").input(known.member_id).run()
    assert not at.exception and metric(at, "PIN") in ("set", "none")
    assert not [b for b in at.button if b.key in ("freeze_member", "freeze_card", "replace_card")]
