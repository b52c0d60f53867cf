"""The demo's back-dated history (coalition.history), written through the domain on a fresh database: a month of
daily chart data, closed cycles with statements and payments, one dispute, expiries, and a ledger that verifies."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from coalition.demo import DEMO_PARTNERS, seed_demo
from coalition.history import cycle_bounds, history_start, ledger_is_fresh, midnight
from coalition.settings import CoalitionSettings
from network.database import make_engine, migrate
from network.store import read_models
from settlement.verify import check_cycle_conservation, check_cycles_complete
from tests.conftest import assert_ledger_verifies


@contextlib.contextmanager
def _fresh_database(engine, database_url) -> Iterator[Engine]:
    """A new, migrated database on the session's PostgreSQL (the shared one has a cut-off and cycles already)."""
    name = f"coalition_history_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    fresh = make_engine(url, pool_size=4)
    try:
        yield fresh
    finally:
        fresh.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture
def fresh_engine(engine, database_url):
    with _fresh_database(engine, database_url) as fresh:
        yield fresh


@pytest.fixture
def second_fresh_engine(engine, database_url):
    with _fresh_database(engine, database_url) as fresh:
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
        assert chart["bucket"].nunique() >= 30
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
    assert_ledger_verifies(fresh_engine)

    # a second run on the same ledger writes no more history
    again = seed_demo(fresh_engine, settings, tmp_path, members=120, history_days=35)
    assert again.history is None and again.created_members == 0
    assert [p.partner_id for p in again.partners] == [s.partner_id for s in DEMO_PARTNERS]


def _shape(engine, before: datetime) -> list[tuple]:
    """What the history wrote, without the ids that differ from run to run (uuid7 members and transactions)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT j.created_at, j.kind, j.partner_id, j.points, j.amount_minor, j.receipt_ref, j.store_id "
            "FROM journal j WHERE j.created_at < :b ORDER BY 1, 2, 3, 4, 5, 6, 7"), {"b": before})]


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
