"""Planning the next settlement cycle survives a lost answer: a planning attempt that committed its cycle row and
was then killed before Temporal heard back is retried, and the retry returns that cycle (whose workflow was never
started) instead of planning the period after it. Seen in a soak run: a cycle left 'scheduled' for ever."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from network.database import make_engine, migrate
from settlement import cycles, store


def test_a_retried_planning_returns_the_cycle_it_committed_before(scratch_database):
    url = scratch_database("cycle_planning")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    now = datetime(2026, 12, 1, 0, 44, 5, tzinfo=timezone.utc)
    try:
        with engine.begin() as conn:  # the attempt whose answer was lost: its row is committed
            first = cycles.plan_next_cycle(conn, now, 15, "EUR")
        with engine.begin() as conn:  # its retry, a moment later: the same cycle, not the next period (nor none)
            again = cycles.plan_next_cycle(conn, now + timedelta(seconds=12), 15, "EUR")
        assert first is not None and again is not None and again.cycle_id == first.cycle_id
        with engine.begin() as conn:  # planned by hand (another workflow id): never picked up by the schedule
            cycles.open_cycle(conn, "manual-1", first.period_end, first.period_end + timedelta(seconds=15),
                              "manual-workflow", "EUR")
            store.cycles.move(conn, first.cycle_id, "cut_off")  # its workflow started: the schedule moves on
        with engine.begin() as conn:
            later = cycles.plan_next_cycle(conn, now + timedelta(seconds=60), 15, "EUR")
        assert later is not None and later.cycle_id not in (first.cycle_id, "manual-1")
        assert later.period_start == first.period_end + timedelta(seconds=15)  # after the manual one
        with engine.connect() as conn:
            states = dict(conn.execute(text("SELECT cycle_id, state FROM cycles")).all())
        assert states == {first.cycle_id: "cut_off", "manual-1": "scheduled", later.cycle_id: "scheduled"}
    finally:
        engine.dispose()
