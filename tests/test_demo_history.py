"""The demo's back-dated history (coalition.history), written through the domain on a fresh database: a month of
daily chart data, closed cycles with statements and payments, one dispute, expiries, and a ledger that verifies."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from sqlalchemy import Engine, text

from coalition.demo import DEMO_CAMPAIGNS, DEMO_LADDER, DEMO_PARTNERS, seed_demo
from coalition.history import cycle_bounds, history_start, ledger_is_fresh, midnight
from coalition.settings import CoalitionSettings
from network.database import make_engine, migrate
from network.core.campaigns import NETWORK_ISSUER
from network.store import read_models
from network.store.campaigns import list_tiers
from network.store.ledger import build_ledger
from settlement.verify import check_cycle_conservation, check_cycles_complete
from tests.conftest import assert_ledger_verifies


@contextlib.contextmanager
def _fresh_database(scratch_database) -> Iterator[Engine]:
    """A new, migrated database on the session's PostgreSQL (the shared one has a cut-off and cycles already)."""
    url = scratch_database("coalition_history")
    migrate(url)
    fresh = make_engine(url, pool_size=4)
    try:
        yield fresh
    finally:
        fresh.dispose()


@pytest.fixture
def fresh_engine(scratch_database):
    with _fresh_database(scratch_database) as fresh:
        yield fresh


@pytest.fixture
def second_fresh_engine(scratch_database):
    with _fresh_database(scratch_database) as fresh:
        yield fresh


def test_cycle_bounds_cover_the_history_without_gaps():
    start = datetime(2026, 9, 1, tzinfo=timezone.utc)
    bounds = cycle_bounds(start, start + timedelta(days=17), 7)
    assert bounds == [(start, start + timedelta(days=7)), (start + timedelta(days=7), start + timedelta(days=14)),
                      (start + timedelta(days=14), start + timedelta(days=17))]
    assert history_start(datetime(2026, 11, 30, 15, 5, tzinfo=timezone.utc), 90) == datetime(
        2026, 9, 1, tzinfo=timezone.utc)
    assert cycle_bounds(start, start, 7) == []
    with pytest.raises(ValueError, match="at least a day"):
        cycle_bounds(start, start + timedelta(days=3), 0)


def test_history_is_written_through_the_domain_and_everything_verifies(fresh_engine, tmp_path):
    settings = CoalitionSettings(data_dir=tmp_path, grpc_address="127.0.0.1:0", ledger_shards=16)
    assert ledger_is_fresh(fresh_engine)
    coalition = seed_demo(fresh_engine, settings, tmp_path, members=120, history_days=35, history_cycle_days=7,
                          history_earns_per_day=40, progress=lambda line: None)
    history = coalition.history
    print(f"history: {history.days} days, {history.earns} earns, {history.redemptions} redemptions, "
          f"{history.reversals} returns, {history.expired_lots} lots expired, {len(history.cycles)} cycles in "
          f"{history.seconds:.1f} s")
    assert history is not None and history.days >= 35
    assert history.earns > 35 * 30 and history.redemptions > 35 and history.reversals > 20
    assert len(history.cycles) == 5  # 35 days in weeks, up to today's midnight

    now = datetime.now(timezone.utc)
    with fresh_engine.connect() as conn:
        # the console's overview: the last 30 days, by day (console/pages/overview.py)
        until = midnight(now) + timedelta(days=1)
        chart = read_models.flows_over_time(conn, until - timedelta(days=30), until, "day")
        # every whole day of the window has traffic; today's has only what came since midnight (maybe nothing yet,
        # just after midnight UTC)
        days = {bucket.to_pydatetime() for bucket in chart["bucket"]}
        assert {until - timedelta(days=30 - i) for i in range(29)} <= days
        assert chart["expired"].sum() > 0  # FuelStop's points expire 30 days after the earn
        closed = conn.execute(text(
            "SELECT c.cycle_id, (SELECT count(*) FROM statements s WHERE s.cycle_id = c.cycle_id) AS statements, "
            "(SELECT count(*) FROM payment_instructions p WHERE p.cycle_id = c.cycle_id AND p.state = 'settled') "
            "AS settled FROM cycles c WHERE c.state = 'closed' ORDER BY c.period_start")).all()
        assert [c.cycle_id for c in closed] == history.cycles
        assert conn.execute(text("SELECT count(*) FROM cycles WHERE workflow_id <> 'demo-history-' || cycle_id")
                            ).scalar_one() == 0  # no Temporal workflow ran them, and their workflow id says so
        assert len([c for c in closed if c.statements > 0 and c.settled > 0]) >= 3
        disputes = conn.execute(text("SELECT dispute_id, outcome FROM disputes")).all()
        assert [(d.dispute_id, d.outcome) for d in disputes] == [(history.dispute_id, "statement_stands")]
        assert check_cycle_conservation(conn).ok and check_cycles_complete(conn).ok
        # written in time order behind the cut-off; the last cycle ends at today's midnight
        assert conn.execute(text("SELECT closed_before FROM ledger_cutoff")).scalar_one() == midnight(now)
        first = conn.execute(text("SELECT min(created_at) FROM journal")).scalar_one()
        assert first == history_start(now, 35)
        # contracts in force from the start of the history; expiry policies of the demo
        policies = dict(conn.execute(text("SELECT partner_id, expiry_policy FROM contracts")).all())
        assert policies["brewhouse"] == "inactivity" and policies["pageturner"] == "calendar"
        warned = conn.execute(text("SELECT count(*) FROM partner_events WHERE type = 'points.expiring'")).scalar_one()
        assert warned > 0 and history.warnings == warned
        expiries = conn.execute(text("SELECT count(*) FROM journal WHERE kind = 'expire'")).scalar_one()
        assert history.expired_lots >= expiries > 0  # (a spent lot expires with no transaction: nothing left in it)
        _assert_the_programme_ran(conn, history)
    assert_ledger_verifies(fresh_engine)

    # a second run on the same ledger writes no more history, and creates no campaign again
    assert coalition.created_campaigns == [c.campaign_id for c in DEMO_CAMPAIGNS]
    again = seed_demo(fresh_engine, settings, tmp_path, members=120, history_days=35)
    assert again.history is None and again.created_members == 0 and again.created_campaigns == []
    with fresh_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM operator_actions WHERE action = 'campaign.create'")
                            ).scalar_one() == len(DEMO_CAMPAIGNS)
        assert list_tiers(conn) == list(DEMO_LADDER)
    assert [p.partner_id for p in again.partners] == [s.partner_id for s in DEMO_PARTNERS]

    # the birthday campaign: the first demo account's birthday is today, so the housekeeping's lifecycle run gives
    # it the network-funded birthday bonus, once (a second run gives nothing more)
    ledger = build_ledger(fresh_engine, settings)
    first = coalition.member_logins[0]
    for _ in range(2):
        with fresh_engine.begin() as conn:
            ledger.award_lifecycle_bonuses(conn)
    with fresh_engine.connect() as conn:
        given = conn.execute(text(
            "SELECT c.campaign_id, c.funder_id, c.points FROM earn_components c JOIN members m USING (member_id) "
            "WHERE c.kind = 'birthday' AND m.card_number = :card"), {"card": first.card_number}).all()
    assert [tuple(r) for r in given] == [("demo-birthday", NETWORK_ISSUER, 250)]


def _assert_the_programme_ran(conn, history) -> None:
    """The history's earns went through the programme: bonuses of every funding kind with their own lots, tier
    upgrades, sign-ups, and cycles that cleared bonus points redeemed, the network as an issuer among the payers."""
    components = {(r.kind, r.campaign_id, r.funder_id): r.points for r in conn.execute(text(
        "SELECT kind, coalesce(campaign_id, '') AS campaign_id, funder_id, sum(points) AS points FROM earn_components "
        "WHERE kind <> 'base' GROUP BY 1, 2, 3"))}
    # partner-funded (the weekend at FreshMart), co-funded (SkyWays and the network), network-funded (the tiers'
    # multipliers and the sign-up bonus)
    assert components.get(("campaign", "demo-freshmart-double-weekend", "freshmart"), 0) > 0
    assert components.get(("campaign", "demo-skyways-cofunded", "skyways"), 0) > 0
    assert components.get(("campaign", "demo-skyways-cofunded", NETWORK_ISSUER), 0) > 0
    assert components.get(("tier", "", NETWORK_ISSUER), 0) > 0
    assert components.get(("signup", "demo-signup-welcome", NETWORK_ISSUER), 0) > 0
    assert history.signups > 0 and history.bonus_points == sum(components.values())
    # every bonus line has its own lot, issued by its funder, and a bonus transaction related to the earn
    assert conn.execute(text(
        "SELECT count(*) FROM earn_components c JOIN lots l ON l.lot_id = c.lot_id JOIN journal j "
        "ON j.tx_id = l.earn_tx_id WHERE c.kind IN ('tier', 'campaign') AND (l.issuer_id <> c.funder_id "
        "OR j.related_id IS DISTINCT FROM c.tx_id)")).scalar_one() == 0
    # the weekend doubles only on Saturdays and Sundays (UTC)
    assert conn.execute(text(
        "SELECT count(*) FROM earn_components WHERE campaign_id = 'demo-freshmart-double-weekend' "
        "AND extract(isodow FROM created_at AT TIME ZONE 'UTC') < 6")).scalar_one() == 0
    # tier upgrades during the history (members above the ladder's first tier, upgraded after they joined)
    upgraded = conn.execute(text(
        "SELECT count(*) FROM member_status s JOIN members m USING (member_id) JOIN tiers t ON t.name = s.tier "
        "WHERE t.rank > 0 AND s.tier_since > m.created_at AND s.tier_since < :b"),
        {"b": midnight(datetime.now(timezone.utc))}).scalar_one()
    assert upgraded >= 1 and history.upgraded_members >= upgraded
    # the budgets were claimed: what a campaign gave is what its budget lost
    for row in conn.execute(text(
            "SELECT c.campaign_id, c.budget_points - c.budget_left AS spent, (SELECT coalesce(sum(points), 0) "
            "FROM earn_components e WHERE e.campaign_id = c.campaign_id) AS given FROM campaigns c "
            "WHERE c.budget_points IS NOT NULL")):
        assert row.spent == row.given, row
    # closed cycles cleared the network's bonus points redeemed at partners: the network pays like an issuer
    cleared = conn.execute(text(
        "SELECT count(*) FROM obligations o JOIN cycles c USING (cycle_id) WHERE c.state = 'closed' "
        "AND o.issuer_id = :n AND o.payer = :n AND o.points > 0"), {"n": NETWORK_ISSUER}).scalar_one()
    assert cleared > 0


def _shape(engine, before: datetime) -> list[tuple]:
    """What the history wrote, without the ids that differ from run to run (uuid7 members and transactions)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT j.created_at, j.kind, j.partner_id, j.points, j.amount_minor, j.receipt_ref, j.store_id "
            "FROM journal j WHERE j.created_at < :b ORDER BY 1, 2, 3, 4, 5, 6, 7"), {"b": before})] + [
            tuple(r) for r in conn.execute(text(  # the bonus lines and the tier upgrades too
                "SELECT created_at, kind, campaign_id, funder_id, points FROM earn_components WHERE created_at < :b "
                "UNION ALL SELECT tier_since, 'upgrade', tier, NULL, NULL FROM member_status WHERE tier_since < :b "
                "ORDER BY 1, 2, 3, 4, 5"), {"b": before})]


def test_the_history_is_the_same_on_every_run(fresh_engine, second_fresh_engine, tmp_path):
    """Seeded randomness: two fresh ledgers get the same history (up to today's midnight; today's part depends on
    the time of the run)."""
    shapes = []
    for engine, folder in ((fresh_engine, tmp_path / "a"), (second_fresh_engine, tmp_path / "b")):
        settings = CoalitionSettings(data_dir=folder, grpc_address="127.0.0.1:0", ledger_shards=16)
        coalition = seed_demo(engine, settings, folder, members=40, history_days=9, history_cycle_days=7,
                              history_earns_per_day=12)
        assert coalition.history is not None and len(coalition.history.cycles) == 2
        shapes.append(_shape(engine, midnight(datetime.now(timezone.utc))))
    assert len(shapes[0]) > 9 * 12 and shapes[0] == shapes[1]
